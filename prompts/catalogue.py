"""Every user-facing text of the service, in each supported language (the single place for them).

``text(key, **params)`` renders a message in the language in force: the one set for the running
reply with ``use_language`` (the service does it from ``GEO_AGENT_LANGUAGE``), else the
``GEO_AGENT_LANGUAGE`` environment variable, else Chinese. Adding a language means adding a
column here; adding a message means adding a row (``tests/test_catalogue.py`` checks both stay
complete and use the same placeholders).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

from bailian_geo_agent.prompts.tool_texts import TOOL_TEXTS

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
DEFAULT_LANGUAGE: Language = "zh"

_current: ContextVar[Language | None] = ContextVar("geo_agent_language", default=None)

CATALOGUE: dict[str, dict[Language, str]] = {
    # -- configuration and input ---------------------------------------------------------------
    "missing_key": {
        "zh": "阿里云百炼API Key未配置："
        "请在.env文件中配置DASHSCOPE_API_KEY（或设置同名环境变量）。",
        "en": "The Bailian API key is not set: put DASHSCOPE_API_KEY in the .env file "
        "(or set the environment variable of that name).",
    },
    "invalid_settings": {
        "zh": "配置无效，请检查.env文件或环境变量：{problems}",
        "en": "Invalid configuration; check the .env file or the environment: {problems}",
    },
    "invalid_geo_settings": {
        "zh": "地理工具配置无效：{problem}。请检查.env中的GEO_*、AMAP_*设置。",
        "en": "Invalid geo tool configuration: {problem}. Check the GEO_* and AMAP_* settings.",
    },
    "message_not_text": {
        "zh": "消息必须是字符串，收到的是 {type}。",
        "en": "The message must be a string, got {type}.",
    },
    "message_nul": {
        "zh": "消息中包含空字符（\\x00），请删除后重试。",
        "en": "The message contains a NUL character (\\x00); remove it and try again.",
    },
    "message_surrogate": {
        "zh": "消息中包含无法编码的字符（不成对的 UTF-16 代理项），请删除后重试。",
        "en": "The message contains a character that cannot be encoded (a lone UTF-16 "
        "surrogate); remove it and try again.",
    },
    "message_empty": {
        "zh": "消息不能为空，请输入要询问的内容。",
        "en": "The message is empty: type what you want to ask.",
    },
    "message_too_long": {
        "zh": "消息过长：{length} 个字符，超过上限 {limit} 个字符"
        "（可通过GEO_AGENT_MAX_MESSAGE_CHARS调整）。请缩短后重试。",
        "en": "The message is too long: {length} characters, more than the limit of {limit} "
        "(GEO_AGENT_MAX_MESSAGE_CHARS). Shorten it and try again.",
    },
    "session_id_not_text": {
        "zh": "session_id 必须是 UUID 字符串，收到的是 {type}。",
        "en": "session_id must be a UUID string, got {type}.",
    },
    "session_id_invalid": {
        "zh": "session_id 格式无效：{shown}。"
        "请使用 UUID（例如 str(uuid.uuid4())），或不传以开始新会话。",
        "en": "Invalid session_id: {shown}. Use a UUID (e.g. str(uuid.uuid4())), or pass none "
        "to start a new session.",
    },
    "events_not_collection": {
        "zh": "events 必须是事件类型的集合，例如 {{'map_action'}}，收到的是 {events}。",
        "en": "events must be a collection of event types such as {{'map_action'}}, got {events}.",
    },
    "events_unknown": {
        "zh": "未知的可选事件类型：{unknown}。可选：{known}。",
        "en": "Unknown optional event types: {unknown}. Available: {known}.",
    },
    # -- sessions ------------------------------------------------------------------------------
    "session_busy": {
        "zh": "该会话正在处理另一条消息，等待{timeout}秒后仍未完成。请稍后再试，或使用新的会话。",
        "en": "This session is still answering another message after {timeout} s. Try again "
        "later, or use a new session.",
    },
    "store_url_invalid": {
        "zh": "SESSION_STORE_URL 无效：{url}。"
        "可用：sqlite:///路径.sqlite、memory://、postgresql://用户:密码@主机/数据库",
        "en": "Invalid SESSION_STORE_URL: {url}. Use sqlite:///path.sqlite, memory:// or "
        "postgresql://user:password@host/database",
    },
    "store_unavailable": {
        "zh": "会话存储不可用（{store}）：{error}。"
        "本次消息未保存，之前的对话不受影响。请检查数据库是否在运行、SESSION_STORE_URL是否正确。",
        "en": "The session store is unavailable ({store}): {error}. This message was not saved; "
        "earlier conversation is unaffected. Check that the database runs and SESSION_STORE_URL.",
    },
    "store_timed_out": {"zh": "连接超时", "en": "it did not answer in time"},
    "store_connection_failed": {"zh": "无法连接或连接中断", "en": "the connection failed or broke"},
    "store_query_failed": {"zh": "查询失败", "en": "a query failed"},
    "no_such_folder": {"zh": "文件夹不存在", "en": "no such folder"},
    "not_a_folder": {"zh": "{path} 是文件，不是文件夹", "en": "{path} is a file, not a folder"},
    "permission_denied": {"zh": "没有权限", "en": "permission denied"},
    # -- the reply -----------------------------------------------------------------------------
    "cancelled": {"zh": "回复已被取消。", "en": "The reply was cancelled."},
    "stream_interrupted": {
        "zh": "回复中断：模型的流式输出在完成前被切断，已显示的内容不完整。请检查网络后重试。",
        "en": "The reply was interrupted: the model's stream was cut before it finished, so "
        "what was shown is incomplete. Check the network and try again.",
    },
    "reply_interrupted": {
        "zh": "回复中断：运行这条回复的服务实例已停止，回复没有完成。"
        "会话仍可继续使用，请重新发送。",
        "en": "The reply was interrupted: the server instance running it stopped before it "
        "finished. The session is still usable; send the message again.",
    },
    "server_restarting": {
        "zh": "回复中断：服务正在重启，这条回复没有在停机前完成。已显示的内容不完整；"
        "页面会自动在其他实例上重试，也可以重新发送这条消息。",
        "en": "The reply was interrupted: the server is restarting and the reply did not finish "
        "before it stopped. What was shown is incomplete; the page retries it on another "
        "instance, or send the message again.",
    },
    "server_draining": {
        "zh": "服务正在重启，暂不接受新的回复。请在 {seconds} 秒后重试（其他实例可以立即处理）。",
        "en": "The server is restarting and takes no new replies. Retry in {seconds} s (another "
        "instance can answer at once).",
    },
    "server_draining_check": {
        "zh": "正在停机（排空中）",
        "en": "shutting down (draining)",
    },
    "stream_log_unavailable": {
        "zh": "回复的事件日志（Redis）不可用，暂时无法开始或续读回复。请检查Redis是否在运行、"
        "GEO_AGENT_STREAM_URL是否正确，稍后重试。",
        "en": "The replies' event log (Redis) is unavailable, so replies cannot start or be "
        "resumed right now. Check that Redis runs and GEO_AGENT_STREAM_URL, then retry.",
    },
    "empty_reply": {
        "zh": "模型没有返回任何内容。请重试，或换个问法。",
        "en": "The model returned nothing. Try again, or ask differently.",
    },
    "invalid_tool_arguments": {
        "zh": "模型生成的工具调用参数无效，未能完成回复。请重试，或换个更具体的问法。",
        "en": "The model produced invalid tool arguments and could not finish the reply. Try "
        "again, or ask more specifically.",
    },
    "internal_error": {
        "zh": "处理请求时出现内部错误，本次回复已中止。请重试。",
        "en": "An internal error stopped this reply. Please try again.",
    },
    "unexpected_error": {
        "zh": "处理请求时出错：{error}",
        "en": "The request failed: {error}",
    },
    "tool_failed": {"zh": "工具执行失败：{error}", "en": "The tool failed: {error}"},
    "tool_not_finished": {
        "zh": "该工具调用未完成（回复被中断），没有结果。",
        "en": "This tool call did not finish (the reply was interrupted); it has no result.",
    },
    # -- the model provider --------------------------------------------------------------------
    "auth_failed": {
        "zh": "阿里云百炼API Key无效，已被服务端拒绝（HTTP 401）。"
        "请在.env文件中检查DASHSCOPE_API_KEY是否正确、是否已过期或被禁用。",
        "en": "The Bailian API key was rejected (HTTP 401). Check DASHSCOPE_API_KEY in the .env "
        "file: is it right, expired or disabled?",
    },
    "endpoint_not_found": {
        "zh": "接口地址不存在（HTTP 404）：{host} 上没有对话补全接口。"
        "请检查{variable}（DashScope 兼容模式应以 /compatible-mode/v1 结尾，"
        "vLLM、Ollama 等一般以 /v1 结尾）。",
        "en": "Endpoint not found (HTTP 404): {host} has no chat completions API. Check "
        "{variable} (DashScope compatible mode ends in /compatible-mode/v1, vLLM and Ollama "
        "usually in /v1).",
    },
    "model_not_found": {
        "zh": "模型不存在：{model}。请在DASHSCOPE_MODEL中填写可用的模型名称"
        "（例如 qwen-plus、qwen-max、qwen-turbo），并确认账号已开通该模型。",
        "en": "Model not found: {model}. Set DASHSCOPE_MODEL to an available model (e.g. "
        "qwen-plus, qwen-max, qwen-turbo) that your account has access to.",
    },
    "moderation": {
        "zh": "内容安全检查未通过：输入或输出可能包含不当内容，本次回复已中止。请修改问题后重试。",
        "en": "The content safety check failed: the input or output may be inappropriate, so "
        "the reply was stopped. Rephrase and try again.",
    },
    "arrears": {
        "zh": "阿里云账号已欠费，无法调用模型。请在阿里云控制台充值后重试。",
        "en": "The Alibaba Cloud account is in arrears and cannot call the model. Top it up in "
        "the console and try again.",
    },
    "quota_exhausted": {
        "zh": "阿里云百炼调用额度已用尽。请在控制台查看额度或开通付费后重试。",
        "en": "The Bailian quota is used up. Check the quota in the console or enable paid use.",
    },
    "prompt_too_long": {
        "zh": "对话内容过长，超过了模型允许的输入长度。请缩短问题，或开始一个新的会话。",
        "en": "The conversation is longer than the model accepts. Shorten the question, or "
        "start a new session.",
    },
    "rate_limited": {
        "zh": "请求过于频繁（HTTP 429），多次重试后仍被限流。请稍后再试。",
        "en": "Too many requests (HTTP 429), still throttled after retries. Try again later.",
    },
    "server_error": {
        "zh": "阿里云百炼服务暂时不可用（HTTP {status}），多次重试后仍失败。请稍后再试。",
        "en": "The Bailian service is unavailable (HTTP {status}) after retries. Try again later.",
    },
    "network_timeout": {
        "zh": "网络连接超时：{waited}未能从 {host} 收到数据。"
        "请检查网络或代理设置、{variable}是否正确，必要时调大DASHSCOPE_TIMEOUT后重试。",
        "en": "Network timeout: no data from {host}{waited}. Check the network or proxy, "
        "{variable}, and if needed raise DASHSCOPE_TIMEOUT and try again.",
    },
    "network_waited": {"zh": "{seconds}秒内", "en": " within {seconds} s"},
    "malformed_stream": {
        "zh": "模型服务返回了无法解析的数据（流式响应格式错误），本次回复已中止。请重试。",
        "en": "The model service sent data that could not be parsed (a malformed stream); the "
        "reply was stopped. Try again.",
    },
    # -- limits (issue 16: bounded under hostile upstreams) ------------------------------------
    "stream_line_too_long": {
        "zh": "模型服务返回了无法解析的数据：一行或一个事件超过 {limit} 字节"
        "（GEO_AGENT_MAX_SSE_LINE_BYTES），本次回复已中止。请检查代理或接口地址后重试。",
        "en": "The model service sent data that could not be parsed: a line or event longer "
        "than {limit} bytes (GEO_AGENT_MAX_SSE_LINE_BYTES); the reply was stopped. Check any "
        "proxy and the endpoint, then try again.",
    },
    "reply_timeout": {
        "zh": "回复超时：{seconds} 秒内未完成（GEO_AGENT_REPLY_TIMEOUT），已显示的内容不完整，"
        "会话可以继续使用。请重试或把问题拆小。",
        "en": "The reply timed out: not finished within {seconds} s (GEO_AGENT_REPLY_TIMEOUT); "
        "what was shown is incomplete and the session stays usable. Try again or ask a "
        "smaller question.",
    },
    "model_call_timeout": {
        "zh": "模型响应超时：一次模型调用 {seconds} 秒内未完成（GEO_AGENT_MODEL_CALL_TIMEOUT），"
        "{host} 可能过慢或异常。已显示的内容不完整，请稍后重试。",
        "en": "The model took too long: one model call did not finish within {seconds} s "
        "(GEO_AGENT_MODEL_CALL_TIMEOUT); {host} may be slow or misbehaving. What was shown is "
        "incomplete; try again later.",
    },
    "answer_too_long": {
        "zh": "回答过长：超过 {limit} 个字符（GEO_AGENT_MAX_ANSWER_CHARS），已在此截断。"
        "请把问题问得更具体一些。",
        "en": "The answer is too long: more than {limit} characters "
        "(GEO_AGENT_MAX_ANSWER_CHARS), so it was cut here. Ask a more specific question.",
    },
    "too_many_tool_rounds": {
        "zh": "模型连续调用了 {rounds} 轮工具仍未给出回答，本次回复已停止"
        "（GEO_AGENT_MAX_TOOL_ROUNDS）。请把问题问得更具体（例如给出城市或地址），或换一个模型重试。",
        "en": "The model kept calling tools for {rounds} rounds without answering, so the reply "
        "was stopped (GEO_AGENT_MAX_TOOL_ROUNDS). Ask more specifically (name the city or "
        "address, for example) or try another model.",
    },
    "insecure_url": {
        "zh": "{variable} 使用明文 http:// 连接非本机地址 {host}：密钥会以明文传输，已拒绝。"
        "生产环境请使用 https://；确需明文（如内网测试服务）"
        "请设置 GEO_AGENT_ALLOW_INSECURE_HTTP=true。",
        "en": "{variable} uses plain http:// to {host}, which is not this machine: the key would "
        "travel unencrypted, so it is refused. Use https:// in production; to allow plain HTTP "
        "anyway (a private test server), set GEO_AGENT_ALLOW_INSECURE_HTTP=true.",
    },
    "dns_failed": {
        "zh": "无法解析主机名 {host}：该地址不存在或 DNS 不可用。"
        "请检查 {variable} 是否拼写正确，以及网络/DNS 设置。",
        "en": "The host name {host} does not resolve: it does not exist or DNS is unavailable. "
        "Check that {variable} is spelled right, and the network/DNS settings.",
    },
    "connection_refused": {
        "zh": "{host} 拒绝了连接：该地址上没有服务在监听。"
        "请检查 {variable} 的主机和端口是否正确、服务是否已启动。",
        "en": "{host} refused the connection: nothing listens there. Check the host and port in "
        "{variable}, and that the service is running.",
    },
    "answer_interrupted": {
        "zh": "（此前的回复被中断，未能完成）",
        "en": "(the previous reply was interrupted before it finished)",
    },
    "provider_status": {
        "zh": "模型服务返回错误（HTTP {status}，{code}）。",
        "en": "The model service answered with an error (HTTP {status}, {code}).",
    },
    "provider_stream_error": {
        "zh": "模型服务在回复过程中返回错误（{code}），本次回复已中止。",
        "en": "The model service reported an error during the reply ({code}); it was stopped.",
    },
    "unknown_code": {"zh": "未知错误码", "en": "unknown code"},
    "unknown_model": {"zh": "未知模型", "en": "unknown model"},
    "model_service": {"zh": "模型服务", "en": "the model service"},
    # -- the HTTP service and the MCP server ---------------------------------------------------
    "server_settings_invalid": {
        "zh": "服务配置无效，请检查.env文件或环境变量：{problems}",
        "en": "Invalid server configuration; check the .env file or the environment: {problems}",
    },
    "tokens_file_unreadable": {
        "zh": "GEO_AGENT_API_TOKENS_FILE 无法读取（{path}）：{error}。",
        "en": "GEO_AGENT_API_TOKENS_FILE cannot be read ({path}): {error}.",
    },
    "serve_needs_tokens": {
        "zh": "拒绝在 {host} 上无访问令牌地监听：任何能访问它的人都可以消耗你的 DashScope 额度。"
        "请设置环境变量 GEO_AGENT_API_TOKENS（逗号分隔的访问令牌），"
        "或 GEO_AGENT_API_TOKENS_FILE（每行一个令牌的文件）；或只监听 --host 127.0.0.1。",
        "en": "refusing to listen on {host} without access tokens: anyone who can reach it "
        "could spend your DashScope key. Set GEO_AGENT_API_TOKENS (comma-separated tokens) or "
        "GEO_AGENT_API_TOKENS_FILE (a file with one token a line), or listen on --host 127.0.0.1.",
    },
    "mcp_needs_tokens": {
        "zh": "拒绝在 {host}（本机之外）上无访问令牌地提供 MCP 服务："
        "请设置 GEO_AGENT_API_TOKENS（逗号分隔的访问令牌）或 GEO_AGENT_API_TOKENS_FILE"
        "（每行一个令牌的文件），或只监听 127.0.0.1。",
        "en": "refusing to serve MCP on {host} (beyond loopback) without access tokens: set "
        "GEO_AGENT_API_TOKENS (comma-separated tokens) or GEO_AGENT_API_TOKENS_FILE (a file with "
        "one token a line), or bind to 127.0.0.1.",
    },
    "token_missing": {
        "zh": "缺少访问令牌：请在请求头中加上 Authorization: Bearer <令牌>。",
        "en": "Missing access token: send the header Authorization: Bearer <token>.",
    },
    "token_invalid": {"zh": "访问令牌无效。", "en": "Invalid access token."},
    "session_not_found": {"zh": "会话不存在。", "en": "No such session."},
    "metrics_off": {
        "zh": "此服务未开放指标（GEO_AGENT_METRICS=off）。"
        "设为 auth 或 public 即可开启 GET /metrics。",
        "en": "Metrics are off on this server (GEO_AGENT_METRICS=off). Set it to auth or public to "
        "serve GET /metrics.",
    },
    "stream_url_needs_redis": {
        "zh": 'GEO_AGENT_STREAM_URL 需要 redis 包：pip install -e ".[redis]"',
        "en": 'GEO_AGENT_STREAM_URL needs the redis package: pip install -e ".[redis]"',
    },
    "invalid_stream_url": {
        "zh": "GEO_AGENT_STREAM_URL 无效：应为 redis://host:port/db 或 memory://（{scheme}）",
        "en": "Invalid GEO_AGENT_STREAM_URL: use redis://host:port/db or memory:// ({scheme})",
    },
    "reply_log_not_found": {
        "zh": "回复不存在或已过期。",
        "en": "No such reply, or its events have expired.",
    },
    "bad_last_event_id": {
        "zh": "Last-Event-ID 无效：应为本回复中收到的事件 id（只含数字的非负整数，小于 2^63）。",
        "en": "Invalid Last-Event-ID: it must be the id of an event of this reply "
        "(a non-negative integer, digits only, below 2^63).",
    },
    "host_not_allowed": {
        "zh": "本服务不响应这个主机名（Host）。如果这是本服务的正确地址，"
        "请把它加入 GEO_AGENT_ALLOWED_HOSTS（逗号分隔）。",
        "en": "This server does not answer for that host name (Host). If it is this "
        "server's address, add it to GEO_AGENT_ALLOWED_HOSTS (comma-separated).",
    },
    "origin_not_allowed": {
        "zh": "不接受来自这个网页来源（Origin）的请求。如果应当允许，"
        "请把它加入 GEO_AGENT_CORS_ORIGINS，或把它的主机名加入 GEO_AGENT_ALLOWED_HOSTS。",
        "en": "Requests from this web origin (Origin) are not accepted. If they should be, "
        "add it to GEO_AGENT_CORS_ORIGINS or its host name to GEO_AGENT_ALLOWED_HOSTS.",
    },
    "reply_not_found": {
        "zh": "回复不存在或已结束。",
        "en": "No such reply, or it has ended.",
    },
    "server_internal_error": {
        "zh": "处理请求时出现内部错误。请重试；如果持续出现，请带上服务日志报告。",
        "en": "Internal error. Try again; if it persists, report it with the server log.",
    },
    "http_404": {"zh": "请求的地址不存在。", "en": "Not found."},
    "http_405": {"zh": "不支持该请求方法。", "en": "Method not allowed."},
    "http_413": {"zh": "请求体过大。", "en": "Request body too large."},
    "http_other": {"zh": "请求失败（HTTP {status}）。", "en": "Request failed (HTTP {status})."},
    "body_not_json": {"zh": "请求体不是有效的 JSON。", "en": "The request body is not valid JSON."},
    "body_not_object": {
        "zh": "请求体必须是 JSON 对象（Content-Type: application/json）。",
        "en": "The request body must be a JSON object (Content-Type: application/json).",
    },
    "field_missing": {"zh": "缺少字段 {field}", "en": "missing field {field}"},
    "field_unknown": {"zh": "不支持的字段 {field}", "en": "unknown field {field}"},
    "field_invalid": {
        "zh": "字段 {field} 无效（{problem}）",
        "en": "invalid field {field} ({problem})",
    },
    "body_off_schema": {"zh": "请求体不符合接口说明", "en": "the body does not match the API"},
    "request_invalid": {"zh": "请求无效：{problems}。", "en": "Invalid request: {problems}."},
    "too_many_requests": {
        "zh": "请求过于频繁：每分钟最多 {limit} 个请求（GEO_AGENT_REQUESTS_PER_MINUTE）。"
        "请 {wait} 秒后重试。",
        "en": "Too many requests: at most {limit} a minute (GEO_AGENT_REQUESTS_PER_MINUTE). "
        "Try again in {wait} s.",
    },
    "token_budget_spent": {
        "zh": "今天的令牌额度已用完：每个 API 令牌每天（UTC）最多 {budget} 个模型令牌"
        "（GEO_AGENT_DAILY_TOKEN_BUDGET），已用 {spent} 个。请在 {wait} 秒后（UTC 零点）重试，"
        "或请管理员提高额度。",
        "en": "Today's token budget is spent: each API token may use {budget} model tokens per "
        "UTC day (GEO_AGENT_DAILY_TOKEN_BUDGET) and {spent} are used. Retry in {wait} s "
        "(midnight UTC) or ask the operator to raise the budget.",
    },
    "too_many_replies": {
        "zh": "同时进行的回复过多：每个令牌最多 {limit} 个（GEO_AGENT_MAX_CONCURRENT_REPLIES）。"
        "请等当前回复结束后重试。",
        "en": "Too many replies at once: at most {limit} per token "
        "(GEO_AGENT_MAX_CONCURRENT_REPLIES). Wait for the current ones to end.",
    },
    "too_many_sessions": {
        "zh": "会话过多：每个令牌最多保存 {limit} 个会话（GEO_AGENT_MAX_SESSIONS_PER_TOKEN）。"
        "请先用 DELETE /v1/sessions/{{id}} 删除不再需要的会话，或继续使用已有的会话。",
        "en": "Too many sessions: at most {limit} stored per token "
        "(GEO_AGENT_MAX_SESSIONS_PER_TOKEN). Delete sessions you no longer need with "
        "DELETE /v1/sessions/{{id}}, or continue an existing one.",
    },
    "tracing_needs_sdk": {
        "zh": 'OTEL_* 变量要求导出追踪，但缺少 {name}：pip install "bailian-geo-agent[otel]"。'
        "本次运行不记录追踪。",
        "en": 'The OTEL_* variables ask for traces, but {name} is missing: pip install '
        '"bailian-geo-agent[otel]". This run records no traces.',
    },
    "tracing_unknown_exporter": {
        "zh": "OTEL_TRACES_EXPORTER 中的 {name} 不受支持（可用：otlp、console、none），已忽略。",
        "en": "OTEL_TRACES_EXPORTER names {name}, which is not supported (otlp, console, none); "
        "ignored.",
    },
    "auth_throttled": {
        "zh": "来自此地址的认证失败次数过多：每分钟最多 {limit} 次"
        "（GEO_AGENT_AUTH_FAILURES_PER_MINUTE）。请检查令牌，{wait} 秒后重试。",
        "en": "Too many failed authentications from this address: at most {limit} a minute "
        "(GEO_AGENT_AUTH_FAILURES_PER_MINUTE). Check the token and try again in {wait} s.",
    },
    "too_many_connections": {
        "zh": "服务器当前连接数已满（GEO_AGENT_MAX_CONNECTIONS）。请 {wait} 秒后重试。",
        "en": "The server has as many connections open as it serves "
        "(GEO_AGENT_MAX_CONNECTIONS). Try again in {wait} s.",
    },
    "body_too_large": {
        "zh": "请求体过大：超过 {limit} 字节（GEO_AGENT_MAX_BODY_BYTES）。",
        "en": "The request body is too large: over {limit} bytes (GEO_AGENT_MAX_BODY_BYTES).",
    },
    "unknown_tool": {"zh": "未知工具：{tool}", "en": "Unknown tool: {tool}"},
    "tool_internal_error": {
        "zh": "工具执行失败（内部错误），请稍后再试。",
        "en": "The tool failed (internal error); try again later.",
    },
    # -- tool names as a person reads them (the web page's tool chips): tool_name_<tool> --------
    "tool_name_get_weather": {"zh": "查询天气", "en": "Weather"},
    "tool_name_search_poi": {"zh": "搜索地点", "en": "Search places"},
    "tool_name_suggest_places": {"zh": "地点联想", "en": "Suggest places"},
    "tool_name_geocode": {"zh": "查找坐标", "en": "Find coordinates"},
    "tool_name_reverse_geocode": {"zh": "坐标查地址", "en": "Address of a point"},
    "tool_name_plan_route": {"zh": "规划路线", "en": "Plan a route"},
    "tool_name_measure_distance": {"zh": "测量距离", "en": "Measure distance"},
    "tool_name_cycling_route": {"zh": "骑行路线", "en": "Cycling route"},
    "tool_name_transit_route": {"zh": "公交换乘", "en": "Public transport"},
    "tool_name_ip_location": {"zh": "IP定位", "en": "Locate an IP"},
    "tool_name_poi_detail": {"zh": "地点详情", "en": "Place details"},
    "tool_name_map_set_view": {"zh": "移动地图", "en": "Move the map"},
    "tool_name_map_add_markers": {"zh": "添加标记", "en": "Add markers"},
    "tool_name_map_draw_route": {"zh": "绘制路线", "en": "Draw a route"},
    "tool_name_map_fit_bounds": {"zh": "缩放地图", "en": "Zoom the map"},
    "tool_name_map_clear": {"zh": "清除地图", "en": "Clear the map"},
    # -- the command line ----------------------------------------------------------------------
    "cli_chat_commands": {
        "zh": "/help 显示命令，/new 开始新会话，/session 显示会话ID，/history 显示本会话记录，"
        "/quit 退出；Ctrl-C 停止当前回复",
        "en": "/help lists the commands, /new starts a new session, /session shows its id, "
        "/history shows this session's turns, /quit quits; Ctrl-C stops the current reply",
    },
    "cli_unknown_command": {
        "zh": "未知命令 {command}（不会发送给模型）；输入 /help 查看可用命令。",
        "en": "Unknown command {command} (not sent to the model); type /help for the commands.",
    },
    "cli_history_empty": {"zh": "（本会话还没有记录）", "en": "(nothing in this session yet)"},
    "cli_chat_banner": {
        "zh": "geo-agent 对话，会话 {session}。{commands}。",
        "en": "geo-agent chat, session {session}. {commands}.",
    },
    "cli_prompt": {"zh": "你> ", "en": "you> "},
    "cli_new_session": {"zh": "新会话 {session}", "en": "new session {session}"},
    "cli_session": {"zh": "会话 {session}", "en": "session {session}"},
    "cli_stopped": {
        "zh": "（已停止回复；会话保留，可以继续提问）",
        "en": "(reply stopped; the session is kept, ask on)",
    },
    "cli_interrupted": {"zh": "（已中断）", "en": "(interrupted)"},
    "cli_error": {"zh": "错误：{error}", "en": "error: {error}"},
    "cli_tool": {"zh": "  ⚙ 调用工具 {tool} {arguments}", "en": "  ⚙ tool {tool} {arguments}"},
    "cli_map": {"zh": "  🗺 地图操作 {action}", "en": "  🗺 map {action}"},
    "cli_thinking": {"zh": "（思考）", "en": "(thinking) "},
    "cli_usage": {
        "zh": "  用量：输入 {input} · 输出 {output}（其中思考 {reasoning}）· 合计 {total} tokens，"
        "模型调用 {calls} 次",
        "en": "  usage: {input} in · {output} out ({reasoning} thinking) · {total} tokens in "
        "{calls} model calls",
    },
    "cli_question_required": {
        "zh": "ask：需要一个问题（QUESTION），或从标准输入传入",
        "en": "ask: a QUESTION is required (or pipe it on stdin)",
    },
    "cli_question_empty": {
        "zh": "ask：问题为空，请输入要询问的内容",
        "en": "ask: the question is empty; type what you want to ask",
    },
    "cli_env_file_missing": {
        "zh": "--env-file：文件不存在：{path}",
        "en": "--env-file: no such file: {path}",
    },
    "cli_session_not_uuid": {"zh": "不是 UUID：{value}", "en": "not a UUID: {value}"},
    "cli_events_unknown": {
        "zh": "未知事件 {unknown}；可选 {known}，或 all（逗号分隔）",
        "en": "unknown event {unknown}; choose from {known} or all (comma-separated)",
    },
    "cli_port_in_use": {
        "zh": "无法监听 {host}:{port}：端口已被占用。"
        "请用 --port 换一个端口（--port 0 自动选择空闲端口），或先停止占用它的程序。",
        "en": "cannot listen on {host}:{port}: the port is already in use. Choose another with "
        "--port (--port 0 picks a free one), or stop the program using it.",
    },
    "cli_cannot_listen": {
        "zh": "无法监听 {host}:{port}：{error}",
        "en": "cannot listen on {host}:{port}: {error}",
    },
    "cli_missing_dependency": {
        "zh": '缺少依赖 {name}：pip install -e ".[{extra}]"',
        "en": 'missing dependency {name}: pip install -e ".[{extra}]"',
    },
    # -- the command line's help and argparse's own messages -----------------------------------
    "exit_ok": {
        "zh": "回答完整（chat、serve、mcp：正常结束）",
        "en": "the answer was complete (chat, serve, mcp: ended normally)",
    },
    "exit_error": {
        "zh": "回复以错误结束，或命令无法启动（配置无效、缺少密钥或依赖、端口已被占用）",
        "en": "the reply ended with an error, or the command could not start (invalid "
        "configuration, no key, a missing dependency, the port already in use)",
    },
    "exit_usage": {
        "zh": "用法错误（未知选项、无效值、缺少或为空的问题），或在回环地址之外监听却没有访问令牌",
        "en": "usage error (unknown option, bad value, missing or empty question), or listening "
        "beyond loopback without access tokens",
    },
    "exit_interrupted": {
        "zh": "被 Ctrl-C 中断（ask；chat 中 Ctrl-C 只停止当前回复）",
        "en": "interrupted with Ctrl-C (ask; in chat, Ctrl-C only stops the current reply)",
    },
    "arg_usage": {"zh": "用法：", "en": "usage: "},
    "arg_positionals": {"zh": "位置参数", "en": "positional arguments"},
    "arg_options": {"zh": "选项", "en": "options"},
    "arg_help": {"zh": "显示此帮助并退出", "en": "show this help message and exit"},
    "arg_version": {"zh": "显示版本号并退出", "en": "show the version and exit"},
    "arg_error": {"zh": "{prog}：错误：{message}", "en": "{prog}: error: {message}"},
    "arg_unrecognized": {"zh": "无法识别的参数：{args}", "en": "unrecognized arguments: {args}"},
    "arg_problem": {"zh": "参数 {argument}：{message}", "en": "argument {argument}: {message}"},
    "arg_choice": {
        "zh": "无效的选择：{value}（可选：{choices}）",
        "en": "invalid choice: {value} (choose from {choices})",
    },
    "arg_value": {"zh": "无效的 {type} 值：{value}", "en": "invalid {type} value: {value}"},
    "arg_expected_one": {"zh": "需要一个值", "en": "expected one argument"},
    "arg_required": {
        "zh": "缺少必需的参数：{args}",
        "en": "the following arguments are required: {args}",
    },
    "arg_ambiguous": {
        "zh": "选项 {option} 有歧义，可能是：{matches}",
        "en": "ambiguous option: {option} could match {matches}",
    },
    "help_variables": {
        "zh": "配置（环境变量，或当前目录下的 .env 文件；已设置的环境变量优先）：",
        "en": "configuration (environment variables, or a .env file in the working directory; "
        "variables already set in the environment win):",
    },
    "help_default": {"zh": "（默认 {default}）", "en": "(default {default})"},
    "help_exit_status": {"zh": "退出状态：", "en": "exit status:"},
    "help_examples": {"zh": "示例：", "en": "examples:"},
    "help_description": {
        "zh": "向百炼（通义千问）地理助手提问：天气、地点、路线、地图。回答随模型的生成实时输出。",
        "en": "Ask the Bailian (Qwen) geographic assistant: weather, places, routes, maps. "
        "Answers stream live as the model writes them.",
    },
    "help_common": {"zh": "ask 和 chat 的选项", "en": "options for ask and chat"},
    "help_json": {
        "zh": "在标准输出上每个事件写一行 JSON（便于管道处理）；类型为 stream_start、"
        "stream_chunk（chunk）、stream_end、error（error），以及 --events 选择的事件",
        "en": "write every event as one JSON object per line on stdout (for piping); types "
        "stream_start, stream_chunk (chunk), stream_end, error (error), plus those chosen with "
        "--events",
    },
    "help_session": {
        "zh": "用这个会话ID继续对话（UUID；chat 和每个 JSON 事件中都会显示）；默认开始新会话",
        "en": "continue the conversation with this session id (a UUID; printed by chat and in "
        "every JSON event); default: a new session",
    },
    "help_model": {
        "zh": "使用的模型，例如 qwen-max（覆盖 DASHSCOPE_MODEL）",
        "en": "model to use, e.g. qwen-max (overrides DASHSCOPE_MODEL)",
    },
    "help_provider": {
        "zh": "openai：DashScope 的 OpenAI 兼容模式；tongyi：DashScope 原生 API"
        "（覆盖 DASHSCOPE_PROVIDER）",
        "en": "openai: DashScope's OpenAI-compatible mode; tongyi: the native DashScope API "
        "(overrides DASHSCOPE_PROVIDER)",
    },
    "help_events": {
        "zh": "同时输出这些可选事件：从 {events} 中选，逗号分隔，或 all"
        "（在标准错误上显示为提示，或配合 --json 输出为 JSON 行）",
        "en": "also stream these optional events: comma-separated from {events}, or all (shown "
        "as notes on stderr, or as JSON lines with --json)",
    },
    "help_thinking": {
        "zh": "让模型思考（未设置时 DASHSCOPE_ENABLE_THINKING=true），并在标准错误上以暗色实时显示"
        "思考过程（隐含 --events reasoning_chunk）",
        "en": "let the model think (DASHSCOPE_ENABLE_THINKING=true unless set) and show its "
        "reasoning dimmed on stderr as it streams (implies --events reasoning_chunk)",
    },
    "help_usage": {
        "zh": "在回答之后显示本次回复的 token 用量（所有模型调用合计；隐含 --events usage）",
        "en": "print the reply's token usage (every model call summed) after the answer "
        "(implies --events usage)",
    },
    "help_show_tools": {
        "zh": "显示助手调用的每个工具、参数和结果预览（隐含 --events tool_start,tool_end）",
        "en": "show each tool the assistant runs, with its arguments and a preview of its "
        "result (implies --events tool_start,tool_end)",
    },
    "help_env_file": {
        "zh": "从这个文件读取配置，而不是 ./.env",
        "en": "read configuration from this file instead of ./.env",
    },
    "help_verbose": {
        "zh": "在标准错误上记录助手的工作（bailian_geo_agent.* 日志，INFO 级别：每次回复、"
        "每次工具调用一行）",
        "en": "log what the assistant does on stderr (the bailian_geo_agent.* loggers at INFO: "
        "a line per reply and per tool call)",
    },
    "help_debug": {
        "zh": "以 DEBUG 级别记录一切，包括各个库（HTTP 请求、重试）；密钥会被遮盖",
        "en": "log everything at DEBUG, the libraries too (HTTP requests, retries); keys masked",
    },
    "help_ask": {
        "zh": "提一个问题，实时输出回答",
        "en": "ask one question and print the answer as it streams",
    },
    "help_ask_description": {
        "zh": "提一个问题，实时输出回答。没有 QUESTION（或为 -）时从标准输入读取问题。",
        "en": "Ask one question and print the answer as it streams. With no QUESTION (or -), "
        "the question is read from stdin.",
    },
    "help_question": {
        "zh": "问题（多个词以空格连接）",
        "en": "the question (several words are joined with spaces)",
    },
    "help_chat": {
        "zh": "保持会话的交互式对话",
        "en": "an interactive conversation that keeps its session",
    },
    "help_chat_description": {
        "zh": "在一个会话中交互式对话。{commands}；在提示符处按 Ctrl-C 或 Ctrl-D 退出。",
        "en": "An interactive conversation in one session. {commands}; Ctrl-C or Ctrl-D at "
        "the prompt exits.",
    },
    "help_serve": {
        "zh": "通过 HTTP 提供助手服务（SSE 和 Vercel AI SDK 流）",
        "en": "serve the assistant over HTTP (SSE and the Vercel AI SDK stream)",
    },
    "help_serve_description": {
        "zh": "通过 HTTP 提供助手服务：POST /v1/chat/stream（SSE）、POST /api/chat"
        "（AI SDK UI 消息流）、会话、/healthz、/readyz；API 文档在 /docs。",
        "en": "Serve the assistant over HTTP: POST /v1/chat/stream (SSE), POST /api/chat "
        "(AI SDK UI message stream), sessions, /healthz, /readyz; API docs at /docs.",
    },
    "help_serve_host": {
        "zh": "监听的地址（默认 127.0.0.1；其他地址需要访问令牌）",
        "en": "address to bind (default 127.0.0.1; any other needs tokens)",
    },
    "help_port": {
        "zh": "监听的端口（默认 {default}；0 表示自动选择空闲端口）",
        "en": "port to bind (default {default}; 0 picks a free one)",
    },
    "help_log_level": {
        "zh": "uvicorn 的日志级别（默认 info）",
        "en": "uvicorn's log level (default info)",
    },
    "help_mcp": {
        "zh": "通过 MCP 提供地理工具（stdio，或 --http 可流式 HTTP）",
        "en": "serve the geo tools over MCP (stdio, or --http streamable HTTP)",
    },
    "help_mcp_description": {
        "zh": "通过模型上下文协议（MCP）提供地理工具（天气、POI 搜索与详情、地理编码、"
        "驾车/步行/骑行/公交路线、距离、IP 定位、地图命令）。默认 stdio（供桌面 MCP 客户端使用）；"
        "--http 在 /mcp 提供可流式 HTTP。GEO_PROVIDER、AMAP_API_KEY 等地理设置与其他命令相同。"
        "在回环地址之外监听时，没有 GEO_AGENT_API_TOKENS（逗号分隔的访问令牌）--http 拒绝启动；"
        "设置后每个请求都需要 Authorization: Bearer <令牌>。",
        "en": "Serve the geo tools (weather, POI search and details, geocoding, driving/walking/"
        "cycling/transit routes, distances, IP location, map commands) over the Model Context "
        "Protocol. stdio by default (for desktop MCP clients); --http serves streamable HTTP at "
        "/mcp. GEO_PROVIDER, AMAP_API_KEY and the other geo settings work as everywhere else. "
        "Bound beyond loopback, --http refuses to start without GEO_AGENT_API_TOKENS "
        "(comma-separated bearer tokens); when set, every request needs Authorization: Bearer "
        "<token>.",
    },
    "help_http": {
        "zh": "提供可流式 HTTP，而不是 stdio",
        "en": "serve streamable HTTP instead of stdio",
    },
    "help_mcp_host": {
        "zh": "--http 监听的地址（默认 127.0.0.1）",
        "en": "address to bind with --http (default 127.0.0.1)",
    },
    "help_no_map_tools": {
        "zh": "不提供 map_* 工具（用于没有地图的客户端）",
        "en": "leave out the map_* tools (for clients without a map)",
    },
    # -- map_clear: what it removed, hid or showed
    "map_cleared": {"zh": "已清除地图上的{what}。", "en": "Removed {what} from the map."},
    "map_cleared_all": {"zh": "所有标记、路线和区域", "en": "every marker, route and area"},
    "map_cleared_markers": {"zh": "所有标记", "en": "every marker"},
    "map_cleared_routes": {"zh": "所有路线", "en": "every route"},
    "map_cleared_stops": {"zh": "所有行程站点", "en": "every trip stop"},
    "map_cleared_areas": {"zh": "所有区域", "en": "every area"},
    "map_layer_done": {
        "zh": "已{action}地图图层“{layer}”。", "en": "Map layer '{layer}': {action}.",
    },
    "map_layer_clear": {"zh": "清除", "en": "cleared"},
    "map_layer_hide": {"zh": "隐藏", "en": "hidden"},
    "map_layer_show": {"zh": "显示", "en": "shown"},
    # -- snapshot
    "snapshot_nothing": {
        "zh": "这次回答没有在地图上画任何东西（没有标记、路线或区域），所以没有地图图片。",
        "en": "The reply drew nothing on the map (no markers, routes or areas), so there is no "
        "map picture.",
    },
    "snapshot_bad_size": {
        "zh": "地图图片的宽和高都须在 {low} 到 {high} 像素之间。",
        "en": "A map picture's width and height must each be {low} to {high} pixels.",
    },
    "snapshot_needs_pillow": {
        "zh": "画地图图片需要 Pillow：请运行 pip install \"bailian-geo-agent[snapshot]\"。",
        "en": "Map pictures need Pillow: run pip install \"bailian-geo-agent[snapshot]\".",
    },
    "snapshot_tiles_failed": {
        "zh": "无法从 {host} 取得地图瓦片：{problem} 请检查 GEO_TILE_URL，或稍后再试。",
        "en": "Could not load the map tiles from {host}: {problem} Check GEO_TILE_URL or try "
        "again later.",
    },
    "snapshot_tile_not_image": {
        "zh": "{host} 返回的地图瓦片不是图片：请检查 GEO_TILE_URL 是否指向 PNG/JPEG 瓦片服务。",
        "en": "The map tiles from {host} are not images: check that GEO_TILE_URL points to a "
        "PNG/JPEG tile server.",
    },
    "snapshot_not_png": {
        "zh": "{service}的静态地图没有返回图片，请稍后再试。",
        "en": "{service}'s static map answered with something other than a picture; try again "
        "later.",
    },
    "snapshot_failed": {
        "zh": "地图图片没有生成：{problem}",
        "en": "The map picture was not made: {problem}",
    },
    "snapshot_written": {
        "zh": "地图图片已保存：{path}",
        "en": "Map picture saved: {path}",
    },
    "snapshot_write_failed": {
        "zh": "无法写入地图图片 {path}：{problem}",
        "en": "Could not write the map picture {path}: {problem}",
    },
    "help_map_out": {
        "zh": "回答之后，把回答画在地图上的内容（标记、路线、区域）存为 PNG 图片",
        "en": "after the reply, save what it drew on the map (markers, routes, areas) as a PNG "
        "picture",
    },
    "help_map_size": {
        "zh": "--map 图片的宽x高（像素，默认 640x400，每边 64 到 1024）",
        "en": "width x height of the --map picture (pixels, default 640x400, 64 to 1024 each)",
    },
    "help_map_images": {
        "zh": "返回地图命令的工具同时附上一张地图图片（PNG，MCP 图片内容），供没有地图的客户端使用",
        "en": "tools that return map commands also return a picture of them (PNG, MCP image "
        "content), for clients without a map",
    },
    # -- areas
    "areas_unknown_area": {
        "zh": "没有找到名为“{area}”的行政区或区域边界，"
        "请换一个名称（例如“朝阳区”“西湖区”）或补充城市。",
        "en": "No district or area outline named '{area}' was found; try another name (for "
        "example 'Chaoyang District') or add the city.",
    },
    "areas_outside_coverage": {
        "zh": "该地点附近没有可通行的道路数据（在服务覆盖范围之外），请换一个地点。",
        "en": "There is no road data near this place (outside the service's coverage); try "
        "another place.",
    },
    "valhalla_error": {
        "zh": "Valhalla无法计算可达范围（错误码 {code}），请换一个地点或出行方式。",
        "en": "Valhalla could not compute the reachable area (error {code}); try another place "
        "or mode.",
    },
    "areas_no_isochrone": {
        "zh": "没有得到可达范围（服务返回为空），请换一个地点或时间。",
        "en": "No reachable area came back (the service answered nothing); try another place or "
        "time.",
    },
    "areas_grid_mode": {
        "zh": "高德地图无法计算“{mode}”方式的可达范围（仅支持驾车和步行），请改用驾车或步行。",
        "en": "AMap cannot compute a reachable area for '{mode}' (driving and walking only); use "
        "driving or walking.",
    },
    "areas_minutes_range": {
        "zh": "出行时间需在1到{limit}分钟之间（收到{minutes}），请换一个时间。",
        "en": "The travel time must be between 1 and {limit} minutes (got {minutes}); choose "
        "another.",
    },
    "areas_capability_boundary": {"zh": "行政区/区域边界", "en": "district and area outlines"},
    "areas_capability_isochrone": {
        "zh": "可达范围（等时圈）", "en": "reachable areas (isochrones)",
    },
    "areas_capability_along": {"zh": "沿途搜索", "en": "search along a route"},
    "areas_kind_district": {"zh": "行政区", "en": "district"},
    "areas_kind_aoi": {"zh": "区域", "en": "area"},
    "areas_kind_region": {"zh": "区域", "en": "region"},
    "areas_mode_cycling": {"zh": "骑行", "en": "cycling"},
    "areas_boundary_head": {
        "zh": "{name}（{kind}，{source}）：面积约{area}平方公里，共{parts}块，"
        "已在地图上绘制边界。",
        "en": "{name} ({kind}, {source}): about {area} km², {parts} part(s); its outline is "
        "drawn on the map.",
    },
    "areas_simplified": {
        "zh": "（地图上的边界已从{before}个点简化为{after}个点，判断仍用完整边界）",
        "en": "(the drawn outline is simplified from {before} to {after} points; checks use the "
        "full outline)",
    },
    "areas_check_inside": {
        "zh": "{place}在{area}内（距边界{distance}）。",
        "en": "{place} is inside {area} ({distance} from its boundary).",
    },
    "areas_check_outside": {
        "zh": "{place}不在{area}内（距边界{distance}）。",
        "en": "{place} is not inside {area} ({distance} from its boundary).",
    },
    "areas_check_boundary": {
        "zh": "{place}位于{area}边界附近（距边界{distance}），"
        "边界数据有误差，无法确定在内还是在外。",
        "en": "{place} is on the boundary of {area} (within {distance}); outlines are "
        "approximate, so which side it is on is uncertain.",
    },
    "areas_reach_label": {"zh": "{mode}{minutes}分钟可达", "en": "{minutes} min {mode}"},
    "areas_reach_head": {
        "zh": "从{place}{mode}{minutes}分钟内可到达的范围（{source}）："
        "面积约{area}平方公里，已在地图上绘制。",
        "en": "Reachable from {place} within {minutes} minutes {mode} ({source}): about {area} "
        "km², drawn on the map.",
    },
    "areas_reach_grid": {
        "zh": "估算方法：高德没有等时圈接口，按网格（分辨率{cell}）"
        "查询{probed}个网格点到出发点的用时，{reachable}个点在时限内；"
        "用时是从网格点到出发点（单向，驾车时可能与反方向不同）。",
        "en": "Method: AMap has no isochrone API, so the times from {probed} grid points "
        "(resolution {cell}) to the start were queried; {reachable} are within the time. Times "
        "run from each point to the start (one way; driving may differ in the other direction).",
    },
    "areas_reach_router": {
        "zh": "由路网计算的等时圈（从出发点出发）。",
        "en": "An isochrone computed on the road network (from the start).",
    },
    "along_nothing": {
        "zh": "在{origin}到{destination}的路线沿途{within}内没有找到“{what}”，"
        "可以放宽距离或换个关键词。",
        "en": "Nothing matching '{what}' within {within} of the route from {origin} to "
        "{destination}; widen the distance or try another keyword.",
    },
    "along_head": {
        "zh": "{origin} → {destination}（{mode}，全程{distance}，约{duration}）"
        "沿途{within}内的“{what}”（{source}，{count}个，按绕行距离排序）：",
        "en": "'{what}' within {within} of the route {origin} → {destination} ({mode}, "
        "{distance}, about {duration}) ({source}, {count}, by detour):",
    },
    "along_item": {
        "zh": "{index}. {name}：绕行约{detour}（离路线{off}，在路线第{at}处）；"
        "{address}；ID：{id}",
        "en": "{index}. {name}: detour about {detour} ({off} off the route, at {at} along it); "
        "{address}; ID: {id}",
    },
    "along_detour_note": {
        "zh": "（绕行距离为往返估计：离路线直线距离的两倍，实际道路绕行会更长）",
        "en": "(detour = twice the straight-line distance off the route, out and back; the "
        "road detour is longer)",
    },
    "along_stop_note": {"zh": "绕行约{detour}", "en": "detour about {detour}"},
    "tool_name_search_along_route": {"zh": "沿途搜索", "en": "Along the route"},
    "tool_name_area_boundary": {"zh": "区域边界", "en": "Area outline"},
    "tool_name_reachable_area": {"zh": "可达范围", "en": "Reachable area"},
    # -- trip
    "trip_too_few": {
        "zh": "行程规划需要至少2个地点（收到{count}个）：请再给出要去的地点；"
              "两地之间可用 plan_route。",
        "en": "A trip needs at least 2 places (got {count}): add the places to visit; "
              "for two places plan_route also works.",
    },
    "trip_too_many": {
        "zh": "一次最多规划{limit}个地点（收到{count}个）：请分成几次规划，或先去掉次要的地点。",
        "en": "At most {limit} places per trip (got {count}): plan it in parts, or leave out "
              "the less important places.",
    },
    "trip_round_trip_end": {
        "zh": "环线行程回到起点，不能同时指定终点：请只用 round_trip 或 end 其中之一。",
        "en": "A round trip ends where it starts: use round_trip or end, not both.",
    },
    "trip_places_not_found": {
        "zh": "找不到这些地点：{places}。请给出更完整的名称（带城市）、高德POI ID或“经度,纬度”。",
        "en": "These places could not be found: {places}. Give a fuller name (with the city), "
              "an AMap POI id or 'lng,lat'.",
    },
    "trip_unreachable": {
        "zh": "无法规划经过这些地点的路线：{places}（与其他地点之间没有可用路线）。"
              "请换一种出行方式、换个附近的地点，或把它们单独规划。",
        "en": "No route reaches these places from the others: {places}. Try another travel "
              "mode, a place nearby, or plan them separately.",
    },
    "trip_outside_coverage": {
        "zh": "这些地点超出{provider}的服务范围：{places}。请去掉它们，或改用覆盖该地区的地图服务"
              "（GEO_PROVIDER=open 或 auto）。",
        "en": "These places are outside the area {provider} covers: {places}. Leave them out, "
              "or use a map service covering them (GEO_PROVIDER=open or auto).",
    },
    "trip_not_offered": {
        "zh": "{provider}不提供行程规划：请改用 plan_route 逐段规划，或换用高德地图或开放地图服务"
              "（GEO_PROVIDER=amap/open）。",
        "en": "{provider} does not plan trips: plan each leg with plan_route, or use AMap or "
              "the open services (GEO_PROVIDER=amap/open).",
    },
    "trip_open_no_server": {
        "zh": "未配置{mode}方式的 OSRM 服务：请设置对应的 OSRM_*_BASE_URL，或换一种出行方式。",
        "en": "No OSRM server is set for {mode}: set its OSRM_*_BASE_URL, or choose another "
              "travel mode.",
    },
    "trip_open_no_route": {
        "zh": "OSRM 无法规划经过这些地点的路线（可能有地点离道路太远）："
              "请检查坐标，或换个附近的地点。",
        "en": "OSRM found no route through these places (one may be far from any road): check "
              "the coordinates, or pick a place nearby.",
    },
    "trip_mode_cycling": {"zh": "骑行", "en": "cycling"},
    "trip_method_exact": {"zh": "顺序为最优（精确计算）", "en": "optimal order (exact)"},
    "trip_method_heuristic": {
        "zh": "顺序由启发式算法得出，不保证最优",
        "en": "order by a heuristic, not guaranteed optimal",
    },
    "trip_method_provider": {
        "zh": "顺序由 OSRM 近似算法给出，不保证最优",
        "en": "order by OSRM's approximation, not guaranteed optimal",
    },
    "trip_method_given": {"zh": "两地之间", "en": "two places"},
    "trip_header": {
        "zh": "{mode}行程（{source}，{count}个地点，{method}）：全程{distance}，路上约{duration}",
        "en": "{mode} trip ({source}, {count} places, {method}): {distance} in all, about "
              "{duration} on the way",
    },
    "trip_round": {"zh": "环线：最后回到{place}", "en": "Round trip: back to {place} at the end"},
    "trip_stop": {"zh": "{number}. {place}", "en": "{number}. {place}"},
    "trip_leg": {"zh": "   ↓ {distance}，约{duration}", "en": "   ↓ {distance}, about {duration}"},
    "trip_back": {"zh": "回到{place}", "en": "back to {place}"},
    "trip_day": {
        "zh": "第{day}天：{first} → {last}，路上约{travel}，含游览约{total}",
        "en": "Day {day}: {first} → {last}, about {travel} on the way, {total} with visits",
    },
    "trip_layer": {"zh": "第{day}天", "en": "day {day}"},
    "tool_name_plan_trip": {"zh": "规划行程", "en": "Plan a trip"},
    "trip_tool_example": {  # in plan_trip's description, whatever the language
        "zh": "places=['故宫','景山公园','南锣鼓巷']",
        "en": "places=['故宫','景山公园','南锣鼓巷']",
    },
    # -- links
    "links_heading": {"zh": "在手机上打开：", "en": "Open on a phone:"},
    "links_line": {"zh": "{kind}｜{label}：{url}", "en": "{kind} | {label}: {url}"},
    "cli_link": {"zh": "  🔗 {line}", "en": "  🔗 {line}"},
    "link_kind_amap_marker": {"zh": "高德地图", "en": "AMap"},
    "link_kind_amap_navigation": {"zh": "高德地图路线", "en": "AMap route"},
    "link_kind_amap_search": {"zh": "高德地图搜索", "en": "AMap search"},
    "link_kind_amap_app_route": {"zh": "高德地图App路线（含途经点）",
                                 "en": "AMap app route (with stops)"},
    "link_kind_geo": {"zh": "地图App", "en": "map app"},
    "link_kind_osm_marker": {"zh": "OpenStreetMap", "en": "OpenStreetMap"},
    "link_kind_osm_directions": {"zh": "OpenStreetMap路线", "en": "OpenStreetMap directions"},
    "notebook_links_title": {
        "zh": "链接（扫码在手机上打开）",
        "en": "Links (scan to open on a phone)",
    },
    # -- page
    "page_tiles_failed": {
        "zh": "地图底图无法加载（离线或被拦截）。标记、路线和区域仍会画出；"
        "请检查网络，或换一个底图。",
        "en": "The map tiles cannot load (offline or blocked). Markers, routes and areas are "
        "still drawn; check the network or pick the other base map.",
    },
    "page_links": {"zh": "在手机上打开", "en": "Open on a phone"},
    "page_link_qr": {"zh": "扫码在手机上打开：", "en": "Scan to open on a phone: "},
    "page_link_unsafe": {
        "zh": "（不是可打开的安全链接，只显示文字）",
        "en": "(not a safe link to open: shown as text only)",
    },
    # -- costrest
    "cli_usage_cache": {
        "zh": "  其中上下文缓存：读取 {cached} · 写入 {created} tokens",
        "en": "  of the input: {cached} read from the context cache · {created} written to it",
    },
    "cli_source": {"zh": "  📰 {title} {url}", "en": "  📰 {title} {url}"},
    "page_sources": {"zh": "网页来源", "en": "Web sources"},
    # -- review
    "trip_method_heuristic_bound": {
        "zh": "顺序由启发式算法得出，路上用时至多比最优顺序多{gap}%（按算出的下界）",
        "en": "order by a heuristic, at most {gap}% more time on the way than the best order "
        "(by a computed lower bound)",
    },
    "areas_same_name": {
        "zh": "注意：有{count}个区域叫这个名字，这里用的是行政区划代码{adcode}的那个；"
        "若不是，请给出所在城市（city）。",
        "en": "Note: {count} areas have this name; this is the one with area code {adcode}. If "
        "it is not the one meant, give its city (city).",
    },
    # -- mcpapp
    "mcp_app_title": {"zh": "地图", "en": "Map"},
    "mcp_app_description": {
        "zh": "在对话中显示地理工具的地图命令（标记、路线、行程站点、区域）的交互地图。",
        "en": "An interactive map showing the geo tools' map commands (markers, routes, trip "
        "stops, areas) inside the conversation.",
    },
    "mcp_app_drawing": {"zh": "正在查询…", "en": "Looking it up…"},
    "mcp_app_tool_failed": {
        "zh": "工具没有成功，地图上没有新内容；请看对话中的说明。",
        "en": "The tool did not succeed, so nothing new is drawn; see the reply for why.",
    },
    "mcp_app_nothing_to_draw": {
        "zh": "这次的结果没有地图命令。",
        "en": "This result has no map commands.",
    },
    "mcp_app_cancelled": {
        "zh": "工具调用已取消，地图上没有新内容。",
        "en": "The tool call was cancelled; nothing new is drawn.",
    },
    # -- mcp2
    "mcp_unknown_resource": {
        "zh": "没有这个资源：{uri}。请先用 resources/list 查看可读的资源。",
        "en": "No such resource: {uri}. List the readable ones with resources/list.",
    },
    # -- multitask
    "reply_running": {
        "zh": "该会话还有一条回复在进行中（message_id {message_id}）。请等它结束，或用 "
        "multitask_strategy \"interrupt\" 重新发送以停止它（\"enqueue\"：排在它之后回答）。",
        "en": "A reply is still running in this session (message_id {message_id}). Wait for it "
        "to end, or send again with multitask_strategy \"interrupt\" to stop it (\"enqueue\": "
        "answered after it).",
    },
    "page_send_interrupts": {
        "zh": "现在发送会停止当前的回答，改答新的问题。",
        "en": "Sending now stops the current answer and answers the new message.",
    },
    # -- a2a
    "a2a_description": {
        "zh": "地理助手（阿里云百炼通义千问）：天气、地点与周边搜索、地理编码、"
        "驾车步行骑行公交路线、多地行程规划、行政区与可达范围。回答的文字在 answer 产物中，"
        "地图指令（标记、路线、区域）以数据部分放在 map_commands 产物中。",
        "en": "A geographic assistant (Qwen on Alibaba Cloud Bailian): weather, place and nearby "
        "search, geocoding, driving, walking, cycling and transit routes, multi-stop trips, "
        "districts and reachable areas. The answer's text is the answer artifact; map commands "
        "(markers, routes, areas) are data parts of the map_commands artifact.",
    },
    "a2a_bearer": {
        "zh": "Authorization: Bearer <令牌>，令牌为服务端 GEO_AGENT_API_TOKENS 中的一个。",
        "en": "Authorization: Bearer <token>, one of the server's GEO_AGENT_API_TOKENS.",
    },
    # -- approval
    "approval_unknown_tools": {
        "zh": "GEO_AGENT_APPROVAL_TOOLS 里的 {unknown} 不是本服务的工具；请只写这些工具名"
        "（逗号分隔）：{known}。",
        "en": "GEO_AGENT_APPROVAL_TOOLS names {unknown}, which is not one of this service's "
        "tools; list only these (comma-separated): {known}.",
    },
    "approvals_invalid": {
        "zh": "approvals 应是 {{审批 ID: {{\"approved\": true 或 false, \"reason\": "
        "可选的理由}}}}，审批 ID 来自 approval_request 事件。",
        "en": "approvals must be {{approval id: {{\"approved\": true or false, \"reason\": an "
        "optional reason}}}}, with the ids of the approval_request events.",
    },
    "approval_unknown": {
        "zh": "这个会话里没有等待审批的工具调用 {ids}（可能已回答过，或属于别的会话）；"
        "正在等待的：{waiting}。会话内容没有改变。",
        "en": "No tool call waits for approval {ids} in this session (it may have been "
        "answered already, or belong to another session); waiting: {waiting}. Nothing in the "
        "session changed.",
    },
    "approval_missing": {
        "zh": "请一起回答所有等待审批的工具调用，还缺：{ids}。会话内容没有改变。",
        "en": "Answer every tool call waiting for approval together; missing: {ids}. Nothing "
        "in the session changed.",
    },
    "approval_with_message": {
        "zh": "回答审批时不要同时发送新消息：message 留空，或者不带 approvals 直接发新消息"
        "（等待中的调用就视为拒绝）。",
        "en": "Send either the approvals (with an empty message) or a new message (which "
        "refuses the waiting calls), not both.",
    },
    # -- rev2: the MCP tools' titles (hosts show them to the user)
    "mcp_tool_title_get_weather": {"zh": "天气", "en": "Weather"},
    "mcp_tool_title_search_poi": {"zh": "搜索地点", "en": "Search places"},
    "mcp_tool_title_suggest_places": {"zh": "地点建议", "en": "Suggest places"},
    "mcp_tool_title_geocode": {"zh": "地址转坐标", "en": "Address to coordinates"},
    "mcp_tool_title_reverse_geocode": {"zh": "坐标转地址", "en": "Coordinates to address"},
    "mcp_tool_title_plan_route": {"zh": "路线规划", "en": "Route"},
    "mcp_tool_title_plan_trip": {"zh": "行程规划", "en": "Trip plan"},
    "mcp_tool_title_measure_distance": {"zh": "距离测量", "en": "Distances"},
    "mcp_tool_title_cycling_route": {"zh": "骑行路线", "en": "Cycling route"},
    "mcp_tool_title_transit_route": {"zh": "公共交通路线", "en": "Public transport route"},
    "mcp_tool_title_ip_location": {"zh": "IP 定位", "en": "IP location"},
    "mcp_tool_title_poi_detail": {"zh": "地点详情", "en": "Place details"},
    "mcp_tool_title_search_along_route": {"zh": "沿途搜索", "en": "Search along a route"},
    "mcp_tool_title_area_boundary": {"zh": "区域边界", "en": "Area boundary"},
    "mcp_tool_title_reachable_area": {"zh": "可达范围", "en": "Reachable area"},
    "mcp_tool_title_map_set_view": {"zh": "地图：设置视图", "en": "Map: set view"},
    "mcp_tool_title_map_add_markers": {"zh": "地图：添加标记", "en": "Map: add markers"},
    "mcp_tool_title_map_draw_route": {"zh": "地图：绘制路线", "en": "Map: draw route"},
    "mcp_tool_title_map_fit_bounds": {"zh": "地图：缩放到范围", "en": "Map: fit bounds"},
    "mcp_tool_title_map_clear": {"zh": "地图：清除", "en": "Map: clear"},
}

CATALOGUE.update(TOOL_TEXTS)  # the geo tools' rows, kept in their own module


def language() -> Language:
    """The language messages are rendered in now."""
    current = _current.get()
    if current is not None:
        return current
    return parse_language(os.environ.get("GEO_AGENT_LANGUAGE"))


def parse_language(value: str | None) -> Language:
    """``zh``/``en`` from a setting such as ``en``, ``en_US.UTF-8`` or ``zh-CN`` (else Chinese)."""
    code = (value or "").strip().lower()[:2]
    return "en" if code == "en" else DEFAULT_LANGUAGE


@contextmanager
def use_language(lang: Language) -> Iterator[None]:
    """Render messages in ``lang`` within this context (and tasks started from it)."""
    token = _current.set(lang)
    try:
        yield
    finally:
        _current.reset(token)


def text(key: str, /, **params: object) -> str:
    """The message ``key`` in the current language, with ``params`` filled in."""
    entry = CATALOGUE[key]
    template = entry.get(language()) or entry[DEFAULT_LANGUAGE]
    return template.format(**params) if params else template.format()
