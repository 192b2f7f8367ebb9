"""``geo-agent`` run as a user runs it: a subprocess (and a pty for ``chat``) against the loopback
DashScope and AMap fakes."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from bailian_geo_agent.agent import cli
from bailian_geo_agent.agent.config import variables
from bailian_geo_agent.agent.exit_codes import ExitCode
from bailian_geo_agent.prompts.catalogue import text, use_language

from tests.fakes import amap_plugin
from tests.fakes.dashscope import Reply, ToolCall
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.helpers import clean_env, dashscope_env

# pytest refuses ``pytest_plugins`` outside the root conftest: re-export the AMap fixtures.
fake_amap_server = amap_plugin.fake_amap_server
fake_amap = amap_plugin.fake_amap

CLI = [sys.executable, "-m", "bailian_geo_agent.agent.cli"]
SCHEMA = {
    "stream_start": {"type", "message_id", "session_id"},
    "stream_chunk": {"type", "message_id", "session_id", "chunk"},
    "stream_end": {"type", "message_id", "session_id"},
    "error": {"type", "message_id", "session_id", "error"},
    "map_action": {"type", "message_id", "session_id", "action"},
    "links": {"type", "message_id", "session_id", "tool", "links", "tool_call_id"},
    "tool_start": {"type", "message_id", "session_id", "tool", "arguments", "tool_call_id"},
    "tool_end": {"type", "message_id", "session_id", "tool", "result", "tool_call_id"},
    "reasoning_chunk": {"type", "message_id", "session_id", "chunk"},
    "usage": {"type", "message_id", "session_id", "input_tokens", "output_tokens",
              "reasoning_tokens", "total_tokens", "model_calls", "cached_tokens",
              "cache_creation_tokens"},
}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def cli_env(tmp_path: Path, fake=None, amap=None, **extra: str) -> dict[str, str]:
    env = clean_env(
        PYTHONIOENCODING="utf-8",
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
        TERM="dumb",
        SESSION_STORE_URL="memory://",
        XDG_DATA_HOME=str(tmp_path / "data"),
    )
    if fake is not None:
        env.update(dashscope_env(fake), DASHSCOPE_TIMEOUT="10")
    if amap is not None:
        env.update(
            GEO_PROVIDER="amap", AMAP_API_KEY=amap_plugin.FAKE_AMAP_KEY, AMAP_BASE_URL=amap.base_url
        )
    else:  # no tool is called; never reach a real provider
        env.update(GEO_PROVIDER="amap", AMAP_API_KEY="unused", AMAP_BASE_URL="http://127.0.0.1:9")
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str], stdin: str = "", cwd: Path | None = None,
            command: list[str] = CLI) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*command, *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=90,
    )


def parse_lines(stdout: str) -> list[dict]:
    events = [json.loads(line) for line in stdout.splitlines()]
    for event in events:
        assert set(event) == SCHEMA[event["type"]], event
    return events


# -- help, usage, configuration (no model call, no LangChain import) -------------------------


HAN = re.compile(r"[\u4e00-\u9fff]")
README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def message(key: str, language: str, **params: str) -> str:
    with use_language(language):
        return text(key, **params)


def test_the_console_script_runs_main(tmp_path):
    (script,) = [ep for ep in entry_points(group="console_scripts") if ep.name == "geo-agent"]
    assert script.load() is cli.main
    installed = Path(sys.executable).with_name("geo-agent")  # what pip generated from it
    result = run_cli("ask", "", env=cli_env(tmp_path), command=[str(installed)])
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.endswith(message("cli_question_empty", "zh") + "\n")


HELP_COMMANDS = [[], ["ask"], ["chat"], ["serve"], ["mcp"]]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_help_lists_options_variables_and_exit_codes_in_the_language(tmp_path, language):
    env = cli_env(tmp_path, GEO_AGENT_LANGUAGE=language)
    common = {"--json", "--session", "--model", "--provider", "--events", "--show-tools",
              "--thinking", "--usage", "--env-file", "--verbose", "--debug"}
    for command in HELP_COMMANDS:
        result = run_cli(*command, "--help", env=env)
        assert result.returncode == 0, result.stderr
        help_text = result.stdout
        assert help_text.startswith(message("arg_usage", language)), command
        for variable, default, _ in variables():  # the settings' own list, defaults included
            assert variable in help_text, (command, variable)
            if default:
                assert message("help_default", language, default=default) in help_text
        exit_lines = help_text.split(message("help_exit_status", language), 1)[1].splitlines()
        codes = [int(line.split()[0]) for line in exit_lines[1:5]]
        assert codes == [code.value for code in ExitCode], command
        if command in ([], ["ask"], ["chat"]):
            assert all(option in help_text for option in common), command
        prose = [line for line in help_text.splitlines() if "geo-agent ask" not in line]
        if language == "en":  # only the example questions are Chinese
            assert not [line for line in prose if HAN.search(line)], command
        else:
            assert message("help_exit_status", "zh") in help_text


def test_python_dash_m_mcp_is_the_same_command_in_the_same_language(tmp_path):
    mcp = [sys.executable, "-m", "bailian_geo_agent.agent.mcp"]
    for language in ("zh", "en"):
        env = cli_env(tmp_path, GEO_AGENT_LANGUAGE=language)
        own, sub = run_cli("--help", env=env, command=mcp), run_cli("mcp", "--help", env=env)
        assert own.returncode == sub.returncode == 0
        # after the usage lines (the program's name differs): the same description, options,
        # variables and exit codes
        assert own.stdout.split("\n\n", 1)[1] == sub.stdout.split("\n\n", 1)[1]
        assert own.stdout.startswith(message("arg_usage", language))
        bogus = run_cli("--bogus", env=env, command=mcp)
        assert bogus.returncode == ExitCode.USAGE
        assert bogus.stderr.splitlines()[-1].endswith(
            message("arg_unrecognized", language, args="--bogus"))


def test_the_readme_documents_the_exit_codes():
    table = README.split("<!-- exit-codes -->", 1)[1].strip().split("\n\n", 1)[0]
    codes = [int(row.split("|")[1]) for row in table.splitlines()[2:]]
    assert codes == [code.value for code in ExitCode]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["ask", "--session", "not-a-uuid", "hi"],
        ["ask", "--provider", "nope", "hi"],
        ["ask", "--events", "tool_start,bogus", "hi"],
        ["ask", "--bogus", "hi"],
        ["frobnicate"],
        ["ask", "--env-file", "missing.env", "hi"],
        ["serve", "--port", "eighty"],
        ["mcp", "--env-file", "missing.env"],
        ["ask", "--map", "out.png", "--map-size", "5000x10", "hi"],
        ["ask", ""],
        ["ask", "  "],
    ],
)
def test_usage_errors_exit_2(tmp_path, args):
    result = run_cli(*args, env=cli_env(tmp_path))
    assert result.returncode == ExitCode.USAGE, result
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(message("arg_usage", "zh")) or "mcp" in args


@pytest.mark.parametrize("language", ["zh", "en"])
def test_an_empty_question_is_the_same_usage_error_from_argv_or_stdin(tmp_path, fake_dashscope,
                                                                      language):
    env = cli_env(tmp_path, fake_dashscope, GEO_AGENT_LANGUAGE=language)
    from_argv = run_cli("ask", "", env=env)
    from_stdin = run_cli("ask", env=env, stdin="  \n")
    expected = message("arg_error", language, prog="geo-agent",
                       message=message("cli_question_empty", language))
    for result in (from_argv, from_stdin):
        assert result.returncode == ExitCode.USAGE
        assert result.stderr.splitlines()[-1] == expected
    assert fake_dashscope.requests == []


@pytest.mark.parametrize(
    ("args", "key", "params"),
    [
        (["ask", "--bogus", "hi"], "arg_unrecognized", {"args": "--bogus"}),
        (["ask", "--session", "x", "hi"], "arg_problem", None),
        (["serve", "--port", "eighty"], "arg_value", {"type": "int", "value": "'eighty'"}),
        (["frobnicate"], "arg_choice", None),
    ],
)
def test_argparse_errors_speak_the_configured_language(tmp_path, args, key, params):
    # The language set in .env (not the environment) counts, as for everything else.
    (tmp_path / ".env").write_text("GEO_AGENT_LANGUAGE=en\n", encoding="utf-8")
    (tmp_path / "plain").mkdir()
    for language, cwd in (("zh", tmp_path / "plain"), ("en", tmp_path)):
        result = run_cli(*args, env=cli_env(tmp_path), cwd=cwd)
        assert result.returncode == ExitCode.USAGE
        last = result.stderr.splitlines()[-1]
        assert message("arg_error", language, prog="", message="") in last, (language, last)
        if params is not None:
            assert last.endswith(message(key, language, **params)), (language, last)
        else:  # the wording before the first placeholder, in that language
            assert message(key, language, value="\0", argument="\0", message="\0",
                           choices="\0").split("\0")[0] in last
        assert bool(HAN.search(last)) == (language == "zh"), last


@pytest.mark.parametrize("command", [["serve"], ["mcp", "--http"]])
@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_port_in_use_is_one_line_in_the_language_and_exit_1(tmp_path, fake_dashscope, command,
                                                              language):
    if command[0] == "mcp":
        pytest.importorskip("mcp")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = cli_env(tmp_path, fake_dashscope, GEO_AGENT_LANGUAGE=language)
        result = run_cli(*command, "--host", "127.0.0.1", "--port", str(port), env=env)
    assert result.returncode == ExitCode.ERROR, result.stderr
    expected = message("cli_port_in_use", language, host="127.0.0.1", port=str(port))
    assert result.stderr.splitlines()[-1] == f"geo-agent {command[0]}: {expected}"
    assert "Errno" not in result.stderr and "Traceback" not in result.stderr


def test_missing_key_is_a_clear_error(tmp_path, fake_dashscope):
    result = run_cli("ask", "你好", env=cli_env(tmp_path))
    assert result.returncode == 1
    assert "阿里云百炼API Key未配置" in result.stderr and "DASHSCOPE_API_KEY" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr

    session = str(uuid.uuid4())
    result = run_cli("ask", "--json", "--session", session, "你好", env=cli_env(tmp_path))
    assert result.returncode == 1
    [event] = parse_lines(result.stdout)
    assert event["type"] == "error" and event["session_id"] == session
    assert "DASHSCOPE_API_KEY" in event["error"]
    assert fake_dashscope.requests == []


# -- ask --------------------------------------------------------------------------------------


def test_ask_streams_plain_text_and_continues_a_stored_session(tmp_path, fake_dashscope):
    fake_dashscope.script(Reply(text="北京今天晴，最高25度。", chunk_size=3), Reply(text="好的。"))
    session = str(uuid.uuid4())
    env = cli_env(tmp_path, fake_dashscope, SESSION_STORE_URL=f"sqlite:///{tmp_path}/s.sqlite")
    question = ["北京今天", "天气怎么样？"]
    result = run_cli("ask", "--model", "qwen-max", "--session", session, *question, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "北京今天晴，最高25度。\n"
    [request] = fake_dashscope.requests
    assert request.protocol == "openai" and request.model == "qwen-max"
    assert request.messages[-1]["content"] == "北京今天 天气怎么样？"

    # A second process, the question on stdin, the same session: the first turn is sent again.
    result = run_cli("ask", "--session", session, "-", env=env, stdin="明天呢？\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "好的。\n"
    sent = [m.get("content") for m in fake_dashscope.requests[-1].messages]
    assert sent[-3:] == ["北京今天 天气怎么样？", "北京今天晴，最高25度。", "明天呢？"]


def test_ask_json_lines_with_tool_events(tmp_path, fake_dashscope, fake_amap):
    fake_dashscope.script(
        Reply(tool_calls=[ToolCall("get_weather", {"place": "北京"})]),
        Reply(text="北京今天晴。"),
    )
    session = str(uuid.uuid4())
    result = run_cli(
        "ask",
        "--json",
        "--events",
        "all",
        "--session",
        session,
        "--provider",
        "tongyi",
        "北京天气？",
        env=cli_env(tmp_path, fake_dashscope, fake_amap),
    )
    assert result.returncode == 0, result.stderr
    events = parse_lines(result.stdout)
    types = [e["type"] for e in events]
    assert types[0] == "stream_start" and types[-1] == "stream_end"
    assert {e["session_id"] for e in events} == {session}
    assert len({e["message_id"] for e in events}) == 1
    assert "".join(e["chunk"] for e in events if e["type"] == "stream_chunk") == "北京今天晴。"
    start = next(e for e in events if e["type"] == "tool_start")
    end = next(e for e in events if e["type"] == "tool_end")
    assert start["tool"] == end["tool"] == "get_weather"
    assert types.index("tool_start") < types.index("tool_end") < types.index("stream_chunk")
    assert {r.protocol for r in fake_dashscope.requests} == {"native"}
    assert fake_amap.requests, "the weather tool did not reach the AMap fake"


def test_ask_prints_the_hand_off_links_after_the_answer(tmp_path, fake_dashscope, fake_amap):
    def script() -> None:
        fake_dashscope.script(
            Reply(tool_calls=[ToolCall("geocode", {"address": "故宫"})]),
            Reply(text="故宫在北京市东城区。"),
        )

    script()
    env = cli_env(tmp_path, fake_dashscope, fake_amap)
    result = run_cli("ask", "故宫在哪？", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "故宫在北京市东城区。\n"  # the answer alone: links are notes
    [line] = [x for x in result.stderr.splitlines() if "🔗" in x]
    assert line.startswith("  🔗 高德地图｜北京市东城区故宫博物院：https://uri.amap.com/marker?")
    assert "position=116.397026,39.918058" in line and "coordinate=gaode" in line

    script()  # JSON lines: the links event only when asked for, in its documented form
    result = run_cli("ask", "--json", "故宫在哪？", env=env)
    assert "links" not in [e["type"] for e in parse_lines(result.stdout)]
    script()
    result = run_cli("ask", "--json", "--events", "links", "故宫在哪？", env=env)
    events = parse_lines(result.stdout)
    [links] = [e for e in events if e["type"] == "links"]
    assert links["tool"] == "geocode" and links["links"][0]["kind"] == "amap_marker"
    assert "position=116.397026,39.918058" in links["links"][0]["url"]


def test_ask_prints_web_sources_and_cached_tokens(tmp_path, fake_dashscope):
    sources = [{"title": "北京天气\x1b[31m", "url": "https://weather.example.cn/beijing"},
               {"title": "天气网", "url": "https://www.weather.example.com.cn/"}]
    fake_dashscope.script(Reply(text="北京晴。", search_results=sources, cached_tokens=1200,
                                cache_creation_tokens=300))
    env = cli_env(tmp_path, fake_dashscope, DASHSCOPE_ENABLE_SEARCH="true",
                  GEO_AGENT_LANGUAGE="en")
    result = run_cli("ask", "--usage", "--provider", "tongyi", "北京天气？", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "北京晴。\n"  # sources are notes, on stderr
    lines = result.stderr.splitlines()
    assert [x for x in lines if "📰" in x] == [
        "  📰 北京天气 [31m https://weather.example.cn/beijing",
        "  📰 天气网 https://www.weather.example.com.cn/"]
    assert "\x1b" not in result.stderr
    assert "  of the input: 1200 read from the context cache · 300 written to it" in lines


def test_ask_error_event_exits_1(tmp_path, fake_dashscope):
    fake_dashscope.script(Reply(status=401, error_code="invalid_api_key"))
    result = run_cli("ask", "--json", "你好", env=cli_env(tmp_path, fake_dashscope))
    assert result.returncode == 1
    events = parse_lines(result.stdout)
    assert events[-1]["type"] == "error" and "API Key无效" in events[-1]["error"]
    assert FAKE_API_KEY not in result.stdout + result.stderr


def _reader(stream) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_ask_ctrl_c_stops_the_reply_and_exits_130(tmp_path, fake_dashscope):
    fake_dashscope.script(Reply(text="慢" * 200, chunk_size=1, chunk_delay=0.1))
    proc = subprocess.Popen(
        [*CLI, "ask", "--json", "讲个长故事"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env=cli_env(tmp_path, fake_dashscope),
    )
    try:
        lines = _reader(proc.stdout)
        while True:
            line = lines.get(timeout=60)
            assert line is not None, proc.stderr.read()
            if json.loads(line)["type"] == "stream_chunk":
                break
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        assert time.monotonic() - started < 10  # not after the whole 20 s reply
        assert "已中断" in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def test_chat_json_reads_questions_from_a_pipe(tmp_path, fake_dashscope):
    result = run_cli(
        "chat", "--json", env=cli_env(tmp_path, fake_dashscope), stdin="你好\n\n/session\n再见\n"
    )
    assert result.returncode == 0, result.stderr  # EOF ends the chat
    events = parse_lines(result.stdout)  # nothing but events on stdout
    assert [e["type"] for e in events if e["type"] != "stream_chunk"] == [
        "stream_start",
        "stream_end",
        "stream_start",
        "stream_end",
    ]
    assert len({e["session_id"] for e in events}) == 1
    assert len({e["message_id"] for e in events}) == 2
    text = "".join(e["chunk"] for e in events if e["type"] == "stream_chunk")
    assert text == "ECHO[1]: 你好ECHO[2]: 再见"
    assert events[0]["session_id"] in result.stderr  # /session


# -- chat, through a pty ----------------------------------------------------------------------


def _controlling_tty() -> None:
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Pty:
    """A child process on a pseudo-terminal, with ``expect`` on its (ANSI-stripped) output."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        import pty

        master, slave = pty.openpty()
        # Its own session with the pty as controlling terminal, so ^C typed is a real SIGINT.
        self.proc = subprocess.Popen(
            args,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            preexec_fn=_controlling_tty,
        )
        os.close(slave)
        self.master = master
        self.buffer = ""
        self.pos = 0
        self._raw = b""
        self._lock = threading.Lock()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self._raw += data
                self.buffer = ANSI.sub("", self._raw.decode("utf-8", "replace"))

    def expect(self, text: str, timeout: float = 60) -> str:
        """Wait for ``text`` after the previous match; returns the output up to it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = self.buffer.find(text, self.pos)
                if found >= 0:
                    seen, self.pos = self.buffer[self.pos : found], found + len(text)
                    return seen
            if self.proc.poll() is not None:
                time.sleep(0.2)
                if text not in self.buffer[self.pos :]:
                    break
            time.sleep(0.02)
        raise AssertionError(
            f"{text!r} not seen; output after last match:\n{self.buffer[self.pos :]}"
        )

    def send(self, text: str) -> None:
        os.write(self.master, text.encode("utf-8"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_chat_keeps_the_session_and_survives_ctrl_c(tmp_path, fake_dashscope, fake_amap):
    fake_dashscope.script(
        Reply(tool_calls=[ToolCall("get_weather", {"place": "北京"})]),
        Reply(text="北京今天晴。"),
        Reply(text="上海多云。"),
        Reply(text="很长" * 200, chunk_size=1, chunk_delay=0.1),
        Reply(text="还在，请问。"),
    )
    term = Pty([*CLI, "chat", "--show-tools"], cli_env(tmp_path, fake_dashscope, fake_amap))
    try:
        term.expect("你> ")
        term.send("北京天气怎么样？\n")
        shown = term.expect("北京今天晴。")
        assert "get_weather" in shown  # --show-tools
        term.expect("你> ")
        term.send("那上海呢？\n")
        term.expect("上海多云。")
        second = fake_dashscope.requests[2].messages
        texts = [str(m.get("content")) for m in second]
        assert "北京天气怎么样？" in texts and "北京今天晴。" in texts and "那上海呢？" in texts

        term.expect("你> ")
        term.send("讲个长故事\n")
        term.expect("很长很")
        started = time.monotonic()
        term.send("\x03")  # Ctrl-C, delivered by the terminal as SIGINT
        term.expect("已停止回复")
        assert time.monotonic() - started < 10
        assert term.proc.poll() is None, "Ctrl-C during a reply ended the chat"

        term.expect("你> ")
        term.send("还在吗？\n")
        term.expect("还在，请问。")
        last = [str(m.get("content")) for m in fake_dashscope.requests[-1].messages]
        assert "北京天气怎么样？" in last and "那上海呢？" in last and last[-1] == "还在吗？"

        term.expect("你> ")
        term.send("\x03")  # Ctrl-C at the prompt: a clean exit (EOF too, see the --json test)
        assert term.proc.wait(timeout=30) == 0
    finally:
        term.close()


def test_unreachable_postgres_is_one_error_line_and_no_pool_noise(
    tmp_path, fake_dashscope, unused_tcp_port
):
    pytest.importorskip("psycopg_pool")
    store = f"postgresql://agent:pw@127.0.0.1:{unused_tcp_port}/sessions"
    env = cli_env(tmp_path, fake_dashscope, SESSION_STORE_URL=store)
    result = run_cli("ask", "你好", env=env)
    assert result.returncode == ExitCode.ERROR
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "会话存储不可用" in lines[0], result.stderr
    assert "pw@" not in result.stderr


def test_chat_slash_commands_are_commands_not_questions(tmp_path, fake_dashscope):
    stdin = "/help\n你好\n/history\n/nope\n/new\n/history\n/quit\n不会发送\n"
    result = run_cli("chat", "--json", env=cli_env(tmp_path, fake_dashscope), stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert [r.messages[-1]["content"] for r in fake_dashscope.requests] == ["你好"]
    notes = result.stderr
    assert "/history" in notes and "/quit" in notes  # /help
    assert "ECHO[1]: 你好" in notes  # /history of the first session
    assert "未知命令 /nope" in notes
    assert "本会话还没有记录" in notes  # /history after /new


# After ``main(argv)``, a line the package logs at INFO (as the service does per reply and per
# tool call) reaches stderr only with -v; a DEBUG line only with --debug.
_LOG_PROBE = """
import logging, sys
from bailian_geo_agent.agent.cli import main
code = main(sys.argv[1:])
logging.getLogger("bailian_geo_agent.agent.service").info("probe: info line")
logging.getLogger("bailian_geo_agent.tools.http").debug("probe: debug line")
sys.exit(code)
"""


def test_verbose_logs_the_package_at_info_and_debug_everything_without_the_key(
        tmp_path, fake_dashscope):
    env = cli_env(tmp_path, fake_dashscope)
    shown = {}
    for flag in ("", "-v", "--debug"):
        args = ["ask", *([flag] if flag else []), "你好"]
        result = subprocess.run([sys.executable, "-c", _LOG_PROBE, *args], env=env,
                                capture_output=True, text=True, encoding="utf-8", timeout=90)
        assert result.returncode == 0, result.stderr
        assert env["DASHSCOPE_API_KEY"] not in result.stderr
        shown[flag] = ("probe: info line" in result.stderr, "probe: debug line" in result.stderr,
                       "openai" in result.stderr)  # the libraries' own DEBUG lines
    assert shown == {"": (False, False, False), "-v": (True, False, False),
                     "--debug": (True, True, True)}


@pytest.mark.parametrize("provider", ["openai", "tongyi", "responses"])
def test_thinking_and_usage_go_to_stderr_the_answer_to_stdout(tmp_path, fake_dashscope,
                                                               provider):
    fake_dashscope.script(Reply(reasoning="先想一想", text="北京晴。"))
    result = run_cli("ask", "--thinking", "--usage", "--provider", provider, "北京天气？",
                     env=cli_env(tmp_path, fake_dashscope))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "北京晴。\n"
    lines = result.stderr.splitlines()
    assert lines[0] == "（思考）先想一想"
    assert lines[1].startswith("  用量：输入 ") and "（其中思考 2）" in lines[1]
    assert lines[1].endswith("模型调用 1 次")
    request = fake_dashscope.requests[0]
    options = request.body if provider != "tongyi" else request.body["parameters"]
    assert options["enable_thinking"] is True  # --thinking turns thinking on when unset


# Runs the CLI as its console script does (``main()``) or as a caller does (``main(argv)``),
# and reports what start-up did to the process.
_PROBE = """
import gc, json, sys
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(1))
from bailian_geo_agent.agent.cli import _startup, main
began, settled = [], []
real_begin, real_settled = _startup.begin, _startup.settled
def begin():
    began.append(len(collections))
    real_begin()
def spy():
    settled.append(len(collections))
    real_settled()
_startup.begin, _startup.settled = begin, spy
if sys.argv[1] == "own":
    sys.argv = ["geo-agent", "ask", "你好"]
    code = main()
else:
    code = main(["ask", "你好"])
start = began[0] if began else 0
print(json.dumps({"code": code, "before_first_event": settled[0] - start,
                  "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "httpx_cli_skipped": sys.modules.get("httpx._main", 0) is None}))
"""


def test_start_up_pauses_collection_until_the_first_reply_only_in_its_own_process(
        tmp_path, fake_dashscope):
    fake_dashscope.script(Reply(text="你好！"), Reply(text="你好！"))
    env = cli_env(tmp_path, fake_dashscope)
    own, caller = (json.loads(subprocess.run(
        [sys.executable, "-c", _PROBE, how], env=env, capture_output=True, text=True,
        encoding="utf-8", timeout=90, check=True).stdout.splitlines()[-1])
        for how in ("own", "caller"))
    # Importing the stack runs the collector hundreds of times unless start-up pauses it.
    assert own == {"code": 0, "before_first_event": 0, "enabled": True,
                   "frozen": own["frozen"], "httpx_cli_skipped": True}
    assert own["frozen"] > 50_000
    assert caller["code"] == 0 and caller["before_first_event"] > 50
    assert caller["frozen"] == 0 and not caller["httpx_cli_skipped"]


# -- ask --map: a picture of what the reply drew ----------------------------------------------


MAP_MARKERS = {"markers": [{"label": "三里屯", "lng": 116.455, "lat": 39.937},
                           {"label": "国贸", "lng": 116.461, "lat": 39.909}]}


def test_ask_map_writes_a_picture_of_what_the_reply_drew(tmp_path, fake_dashscope, fake_amap):
    from PIL import Image

    from tests.fakes.amap_static import STATIC_MAP_PATH, static_map_answer

    fake_amap.set_response(STATIC_MAP_PATH, static_map_answer)
    fake_dashscope.script(Reply(tool_calls=[ToolCall("map_add_markers", MAP_MARKERS)]),
                          Reply(text="已在地图上标出。"))
    out = tmp_path / "map.png"
    result = run_cli("ask", "--map", str(out), "--map-size", "800x500", "三里屯和国贸在哪？",
                     env=cli_env(tmp_path, fake_dashscope, fake_amap))
    assert result.returncode == ExitCode.OK, result.stderr
    assert result.stdout.strip() == "已在地图上标出。"
    with use_language("zh"):
        assert text("snapshot_written", path=str(out)) in result.stderr
        assert text("cli_map", action="").strip() not in result.stderr  # drawn, not listed
    with Image.open(out) as picture:
        assert (picture.format, picture.size) == ("PNG", (800, 500))
    (request,) = fake_amap.requests_to(STATIC_MAP_PATH)
    assert request.params["size"] == "800*500"
    assert request.params["markers"].count("|") == 1  # both markers, in GCJ-02 as given
    assert "116.455000,39.937000" in request.params["markers"]
    assert amap_plugin.FAKE_AMAP_KEY not in result.stderr + result.stdout
    assert list(tmp_path.glob(".map.png.*")) == []  # no partial file left


def test_ask_map_says_so_when_nothing_was_drawn_or_the_picture_fails(tmp_path, fake_dashscope,
                                                                   fake_amap):
    from tests.fakes.tiles import FakeTiles

    fake_dashscope.script(Reply(text="北京今天晴。"))
    out = tmp_path / "map.png"
    env = cli_env(tmp_path, fake_dashscope, fake_amap, GEO_AGENT_LANGUAGE="en")
    result = run_cli("ask", "--map", str(out), "北京天气？", env=env)
    assert result.returncode == ExitCode.ERROR
    assert result.stdout.strip() == "北京今天晴。"  # the answer itself is kept
    with use_language("en"):
        assert text("snapshot_nothing") in result.stderr
    assert not out.exists()

    with FakeTiles() as tiles:
        tiles.fail_with(503)
        fake_dashscope.script(Reply(tool_calls=[ToolCall("map_add_markers", MAP_MARKERS)]),
                              Reply(text="Marked."))
        env.update(GEO_PROVIDER="open", GEO_MAP_CRS="wgs84", GEO_TILE_URL=tiles.url_template)
        result = run_cli("ask", "--json", "--map", str(out), "Where?", env=env)
    assert result.returncode == ExitCode.ERROR
    types = [e["type"] for e in parse_lines(result.stdout)]
    assert types[-1] == "stream_end" and "map_action" not in types  # not asked for: not shown
    assert f"127.0.0.1:{tiles.port}" in result.stderr and "GEO_TILE_URL" in result.stderr
    assert not out.exists()
