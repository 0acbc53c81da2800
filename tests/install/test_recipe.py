"""The README's recipe, as a new user would follow it, against the built distribution.

Builds the sdist and, from it, the wheel; installs the wheel into fresh virtualenvs (Django
5.2 LTS, and the newest 6.x the package allows); runs `django-admin startproject mysite`;
applies every block of the README's "Add `sse` to your project" section as written; serves
it with `python -m sse.daphne`; signs in with Chromium and watches the page receive an event
published from `manage.py shell`; then runs the README's own `sse.testing` tests with pytest.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import DaphneServer, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTION_START = "## Add `sse` to your project"
SECTION_END = "### Serving"

# Never installed by the bare wheel: the demo's dependencies and the extras.
NOT_FOR_EVERYONE = {
    "dj-database-url",
    "django-tasks",
    "django-tasks-db",
    "django-stubs-ext",
    "prometheus-client",
    "djangorestframework",
    "channels-redis",
    "redis",
}
DEMO_PACKAGES = {"notifications", "chat", "jobs", "project", "templates", "tests", "bench"}
PASSWORD = "recipe-password-1"
SHIPPED_SHOWN = "() => [...document.querySelectorAll('#orders li')].some(li => li.textContent === 'shipped')"

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
# "# mysite/asgi.py", "# mysite/settings.py: add at the end", "{# orders/templates/x.html #}"
_FILE_COMMENT = re.compile(r"(?:#|\{#)\s*([\w./-]+\.(?:py|html|ini))(: add at the end)?(?:\s*#\})?")


@dataclass
class Block:
    language: str
    text: str

    @property
    def target(self) -> tuple[str, bool] | None:
        """(path, append) for a block that is a file, from its first line's comment."""
        first = self.text.splitlines()[0]
        m = _FILE_COMMENT.fullmatch(first)
        if m is None:
            return None
        return m.group(1), bool(m.group(2))


def readme_blocks(start: str, end: str) -> list[Block]:
    text = README.read_text()
    section = text[text.index(start) : text.index(end, text.index(start))]
    return [Block(lang, body) for lang, body in _FENCE.findall(section)]


def clean_env(**extra: str) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"}
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    try:
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"{shlex.join(args)} still running after {timeout}s:\n{exc.stdout}\n{exc.stderr}"
        ) from None
    assert done.returncode == 0, (
        f"{shlex.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout + done.stderr


def find_python(version: str) -> str:
    out = subprocess.run(
        [str(ROOT / "scripts" / "find-python"), version], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@dataclass
class Dist:
    wheel: Path
    sdist: Path


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """The sdist, and the wheel built from it, of a copy of the working tree (the tree stays clean)."""
    tmp = tmp_path_factory.mktemp("dist")
    source = tmp / "source"
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        src = ROOT / name
        if src.is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, source / name)
    out = tmp / "out"
    run([sys.executable, "-m", "build", "--outdir", str(out), str(source)], tmp, clean_env())
    [wheel] = out.glob("*.whl")
    [sdist] = out.glob("*.tar.gz")
    return Dist(wheel, sdist)


def test_the_wheel_holds_sse_alone(dist: Dist) -> None:
    names = zipfile.ZipFile(dist.wheel).namelist()
    top = {name.split("/")[0] for name in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {"sse"}, f"top-level entries: {sorted(top)}"
    for required in (
        "sse/py.typed",
        "sse/static/sse/sse.js",
        "sse/static/sse/sse.mjs",
        "sse/static/sse/sse.d.mts",
        "sse/static/sse/sse.d.ts",
        "sse/migrations/0001_initial.py",
        "sse/management/commands/sse_publish.py",
    ):
        assert required in names, f"{required} missing from the wheel"
    [info] = dist_info
    assert f"{info}/licenses/LICENSE" in names
    metadata = zipfile.ZipFile(dist.wheel).read(f"{info}/METADATA").decode()
    requires = re.findall(r"^Requires-Dist: (.+)$", metadata, re.M)
    bare = sorted(r.split(";")[0].strip() for r in requires if "extra ==" not in r)
    # What sse imports, no more: the demo's and the extras' packages are not here.
    assert [re.split(r"[<>=!~ ]", r)[0].lower() for r in bare] == [
        "asgiref",
        "channels",
        "cryptography",
        "daphne",
        "django",
        "twisted",
    ], bare
    extras = re.findall(r"^Provides-Extra: (.+)$", metadata, re.M)
    assert sorted(extras) == ["api", "redis"]


def test_the_sdist_holds_sse_alone(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as tar:
        names = tar.getnames()
    root = names[0].split("/")[0]
    top = {n.split("/")[1] for n in names if n.count("/") >= 1}
    assert not top & DEMO_PACKAGES, f"demo code in the sdist: {sorted(top & DEMO_PACKAGES)}"
    assert {"sse", "LICENSE", "README.md", "pyproject.toml"} <= top, sorted(top)
    for shipped in ("sse.js", "sse.mjs", "sse.d.mts", "sse.d.ts"):
        assert f"{root}/sse/static/sse/{shipped}" in names, f"{shipped} missing from the sdist"


@dataclass
class Project:
    venv: Path
    home: Path  # where startproject ran
    env: dict[str, str]
    server: DaphneServer | None = None

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    @property
    def site(self) -> Path:
        return self.home / "mysite"


def run_shell_line(line: str, project: Project, dist: Dist, cwd: Path, log: Path) -> Path:
    """Run one README command the way a user would, inside the fresh venv. Returns the new cwd."""
    args = shlex.split(line)
    if args == ["pip", "install", "django-live-sse"]:
        # The wheel stands in for the package index.
        out = run(
            [project.bin("pip"), "install", str(dist.wheel), *project.env["EXTRA_PINS"].split()],
            cwd,
            project.env,
        )
        print(out)
        return cwd
    if args[0] == "cd":
        return cwd / args[1]
    if args[:2] == ["python", "manage.py"] and args[2] == "createsuperuser":
        env = {
            **project.env,
            "DJANGO_SUPERUSER_USERNAME": "customer",
            "DJANGO_SUPERUSER_EMAIL": "customer@example.com",
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        }
        run([project.bin("python"), *args[1:], "--noinput"], cwd, env)
        return cwd
    if args[:3] == ["python", "-m", "sse.daphne"]:
        server = DaphneServer(project.env, asgi=args[3], log_path=log)
        server.proc = subprocess.Popen(
            [
                project.bin("python"),
                "-m",
                "sse.daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(server.port),
                *args[3:],
            ],
            cwd=cwd,
            env=project.env,
            stdout=open(log, "ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for_port(server.port, proc=server.proc)
        project.server = server
        return cwd
    if args[0] in {"python", "django-admin"}:
        exe = project.bin("python") if args[0] == "python" else project.bin("django-admin")
        run([exe, *args[1:]], cwd, project.env)
        return cwd
    raise AssertionError(f"the README has a command this test does not know how to run: {line!r}")


def apply_file_block(block: Block, cwd: Path) -> None:
    target = block.target
    assert target is not None, f"a {block.language} block without a file name:\n{block.text}"
    path, append = target
    dest = cwd / path
    dest.parent.mkdir(parents=True, exist_ok=True)
    if append:
        assert dest.exists(), f"{path} should exist before the README adds to it"
        dest.write_text(dest.read_text() + "\n" + block.text)
    else:
        dest.write_text(block.text)


@pytest.fixture
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    python, pins = request.param
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    env = clean_env(VIRTUAL_ENV=str(venv), EXTRA_PINS=pins)
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip"], tmp_path, env)
    home = tmp_path / "work"
    home.mkdir()
    made = Project(venv, home, env)
    try:
        yield made
    finally:
        if made.server is not None:
            made.server.stop()


@pytest.mark.browser
@pytest.mark.timeout(900)  # two installs into a fresh venv, a server, a browser and a pytest run
@pytest.mark.parametrize(
    "project",
    [
        pytest.param((find_python("3.12"), "django>=5.2,<5.3"), id="django-5.2"),
        pytest.param((find_python("3.13"), "django>=6.0"), id="django-6.x"),
    ],
    indirect=True,
)
def test_the_readme_recipe_works_as_written(project: Project, dist: Dist, browser: object) -> None:
    blocks = readme_blocks(SECTION_START, SECTION_END)
    log = project.home / "daphne.log"
    cwd = project.home
    page = None
    installed_checked = False
    for block in blocks:
        if block.language == "sh":
            for line in block.text.splitlines():
                if not line.strip():
                    continue
                cwd = run_shell_line(line, project, dist, cwd, log)
                if line.startswith("pip install") and not installed_checked:
                    check_bare_install(project)
                    installed_checked = True
                if line.startswith("python -m sse.daphne"):
                    page = open_orders_page(browser, project)
                if "sse.publish(" in line:
                    assert page is not None, "the README publishes before serving"
                    page.wait_for_function(SHIPPED_SHOWN, timeout=30_000)
        elif block.language in {"python", "html", "ini"}:
            apply_file_block(block, cwd)
        else:
            raise AssertionError(f"unexpected {block.language!r} block in the recipe")
    assert installed_checked and page is not None, "the recipe never installed or never served"

    # The README's own tests, written with sse.testing, under pytest-django.
    run([project.bin("pip"), "install", "-q", "pytest", "pytest-django", "pytest-asyncio"], cwd, project.env)
    out = run([project.bin("pytest"), "-q", "-p", "no:cacheprovider"], cwd, project.env, timeout=300)
    assert re.search(r"\b2 passed\b", out), out


def check_bare_install(project: Project) -> None:
    listed = json.loads(
        run([project.bin("pip"), "list", "--format=json"], project.home, project.env).splitlines()[0]
    )
    names = {p["name"].lower().replace("_", "-") for p in listed}
    assert "django-live-sse" in names
    assert not names & NOT_FOR_EVERYONE, f"installed with the bare wheel: {sorted(names & NOT_FOR_EVERYONE)}"
    site = next((project.venv / "lib").glob("python3.*/site-packages"))
    record = next(site.glob("django_live_sse-*.dist-info")) / "RECORD"
    top = {line.split("/")[0].split(",")[0] for line in record.read_text().splitlines()}
    assert {t for t in top if not t.endswith(".dist-info")} == {"sse"}, sorted(top)
    for name in DEMO_PACKAGES:
        assert not (site / name).exists(), f"{name} in site-packages"


def open_orders_page(browser: object, project: Project) -> object:
    server = project.server
    assert server is not None
    base = f"http://127.0.0.1:{server.port}"
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/admin/login/?next=/orders/")
    page.fill("#id_username", "customer")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/orders/")
    # sse.js came from {% static %} (served by python -m sse.daphne under DEBUG) and the stream is live.
    page.wait_for_function("() => typeof stream !== 'undefined' && stream.state === 'live'", timeout=30_000)
    assert not errors, errors
    return page


def test_the_redaction_snippet_keeps_tokens_out_of_access_logs(tmp_path: Path) -> None:
    [snippet] = [b.text for b in readme_blocks("### Serving", "### Tokens") if b.language == "python"]
    # The README's snippet for a logger of one's own, and the servers' loggers sse guards itself
    # (SseConfig.ready() calls guard_access_logs(); tests/deploy sees it under each server).
    script = (
        snippet
        + "\nimport logging, sys\n"
        + "from sse.server.redaction import guard_access_logs\nguard_access_logs()\n"
        + "logging.basicConfig(stream=sys.stdout, level=logging.INFO, format='%(name)s %(message)s')\n"
        + "logging.getLogger('uvicorn.access').info('%s - \"%s %s HTTP/%s\" %d', '1.2.3.4', 'GET',"
        + " '/sse/stream/?channel=a&token=SECRET1', '1.1', 200)\n"
        + "logging.getLogger('django.channels.server').info('HTTP %(method)s %(path)s %(status)s',"
        + " {'method': 'GET', 'path': '/sse/stream/?token=SECRET2&channel=a', 'status': 200})\n"
        + "logging.getLogger('myproxy.access').info('GET %s', '/sse/stream/?token=SECRET3')\n"
    )
    import sys

    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert "SECRET" not in out, out
    assert out.count("token=[redacted]") == 3, out
