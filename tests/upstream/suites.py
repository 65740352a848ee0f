"""The WebSocket test suites of other projects that ``scripts/upstream_tests.py`` runs.

Each suite is pinned (a PyPI source distribution, or a commit of a public repository
brought with the ``fetch`` tool) and says which of its files to take, what its tests
need installed, and how to run its WebSocket tests. Nothing of theirs is committed here.

>>> SUITES["starlette"].source.kind
'sdist'
>>> sorted(suite.name for suite in SUITES.values() if suite.ci)
['aioinject', 'dishka', 'fastapi', 'otel-fastapi', 'starlette', 'starlette-trio', 'wireup']
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sdist:
    """A source distribution from PyPI; ``version=None`` is the installed version's."""

    project: str
    version: str | None = None
    kind: str = "sdist"

    @property
    def pin(self) -> str:
        return f"{self.project}=={self.version}" if self.version else self.project


@dataclass(frozen=True)
class Git:
    """A commit of a public repository, read from a snapshot that ``fetch`` brought."""

    repository: str  # owner/name
    commit: str
    tag: str = ""  # the release the commit is, when it is one
    kind: str = "git"

    @property
    def pin(self) -> str:
        return f"{self.repository}@{self.tag or self.commit[:12]}"


@dataclass(frozen=True)
class Suite:
    """One project's WebSocket tests, and what running them takes."""

    name: str
    #: What kind of tests they are, for the table.
    style: str
    source: Sdist | Git
    #: Regular expressions on the paths inside the source: the tests and what they import.
    files: tuple[str, ...]
    #: What pytest is given: paths or node ids, markers, ``-k``, ``-o`` and ``-p`` options.
    pytest_args: tuple[str, ...]
    #: What the tests need besides yaat and pytest, pip requirements for the suite's own
    #: venv (``.upstream/venvs/``). ``None``: the current interpreter runs them, as CI
    #: does for Starlette's and FastAPI's own suites, whose needs are in ``[dev]``.
    install: tuple[str, ...] | None = None
    #: CI runs it (``python scripts/upstream_tests.py`` with no ``--suite``).
    ci: bool = False
    #: Written as the run's ``pytest.ini`` when set (their own configuration otherwise).
    ini: str = ""
    #: Why a detail of the run is as it is.
    notes: tuple[str, ...] = field(default_factory=tuple)


#: pytest settings for Starlette's and FastAPI's own tests: their pyproject.toml carries
#: coverage options and plugins that a run of a few files does not want.
_OWN_SUITE_INI = (
    "[pytest]\n"
    "addopts = --strict-markers\n"
    "markers =\n    xdist_group: their own marker, for pytest-xdist\n"
    "filterwarnings =\n    error\n"
    "    ignore:Setting per-request cookies:DeprecationWarning\n"
)

#: Starlette's test files that open a WebSocket, and what they import.
_STARLETTE_FILES = (
    r"tests/(__init__|conftest|types)\.py",
    r"tests/middleware/(__init__|test_base|test_errors)\.py",
    r"tests/test_(websockets|endpoints|testclient|applications|authentication|exceptions"
    r"|routing)\.py",
)
#: How Starlette's and FastAPI's own suites run: their tests use anyio's plugin.
_OWN_SUITE_PLUGINS = ("-p", "no:yaat_testing", "-p", "no:asyncio")

_SUITES = (
    Suite(
        name="starlette",
        style="the framework's own: sync tests, anyio backends as a fixture",
        source=Sdist("starlette"),
        files=_STARLETTE_FILES,
        pytest_args=(*_OWN_SUITE_PLUGINS, "-k", "not trio", "tests"),
        ci=True,
        ini=_OWN_SUITE_INI,
        notes=("their trio variants run as the suite starlette-trio",),
    ),
    Suite(
        name="starlette-trio",
        style="the framework's own, on trio: TestClient(app, backend='trio')",
        source=Sdist("starlette"),
        files=_STARLETTE_FILES,
        pytest_args=(*_OWN_SUITE_PLUGINS, "-k", "trio", "tests"),
        ini=_OWN_SUITE_INI,
        ci=True,
    ),
    Suite(
        name="fastapi",
        style="the framework's own: sync tests, the tutorial's examples",
        source=Sdist("fastapi"),
        files=(
            r"tests/(__init__|conftest|utils)\.py",
            r"tests/test_(ws_router|ws_dependencies|security_websockets)\.py",
            r"tests/test_dependency_(after_yield|yield_scope)_websockets\.py",
            r"tests/test_tutorial/__init__\.py",
            r"tests/test_tutorial/test_websockets/.*\.py",
            r"docs_src/__init__\.py",
            r"docs_src/websockets_/.*\.py",
        ),
        pytest_args=(*_OWN_SUITE_PLUGINS, "-k", "not trio", "tests"),
        ci=True,
        ini=_OWN_SUITE_INI,
    ),
    Suite(
        name="strawberry",
        style="GraphQL over graphql-ws and graphql-transport-ws; async tests calling the sync client",
        source=Git(
            "strawberry-graphql/strawberry", "6238e37775759299c919b1038d6034565df8e287", "0.324.0"
        ),
        files=(r"pyproject\.toml", r"tests/.*"),
        pytest_args=("-m", "asgi or fastapi", "tests/websockets", "tests/fastapi/test_context.py"),
        install=(
            "strawberry-graphql[fastapi]==0.324.0",
            "pytest>=9.0.2,<9.2",
            "pytest-asyncio>=1.3,<1.5",
            "pytest-emoji>=0.2,<0.3",
            "pytest-mock>=3.10,<4",
            "pytest-snapshot>=0.9,<0.10",
            "freezegun>=1.2.1,<2",
            "python-multipart>=0.0.7",
            "rich>=12.5.1",
        ),
        notes=(
            "their other HTTP clients (aiohttp, channels, litestar, quart) are deselected by their markers",
        ),
    ),
    Suite(
        name="ariadne",
        style="GraphQL over graphql-ws and graphql-transport-ws; sync tests, connection hooks",
        source=Git("mirumee/ariadne", "e33ed1bc000655e0e3dfa8389525a9d7ee07a3e5"),
        files=(r"pyproject\.toml", r"tests/.*", r"tests_integrations/.*"),
        pytest_args=(
            "tests/asgi/test_websockets_graphql_ws.py",
            "tests/asgi/test_websockets_graphql_transport_ws.py",
            "tests/asgi/test_configuration.py",
            "tests/asgi/test_query_execution.py",
            "tests_integrations/fastapi/test_websocket_connection.py",
        ),
        install=("{source}[test]",),
        notes=(
            "tests_integrations/starlette/ is left out: its test module has the same name as "
            "tests_integrations/fastapi/'s, and their CI runs each folder on its own",
        ),
    ),
    Suite(
        name="starlette-graphene3",
        style="GraphQL (graphene 3) subscriptions; sync tests",
        source=Git(
            "ciscorn/starlette-graphene3", "cfe6a45f3163649f605fd1fa0f10b492b6721c8b", "0.6.0"
        ),
        files=(r"pyproject\.toml", r"tests/.*"),
        pytest_args=("tests/test_websocket.py",),
        install=(
            "starlette-graphene3==0.6.0",
            "graphene-file-upload",
            "pytest",
            "pytest-asyncio",
            "python-multipart",
        ),
    ),
    Suite(
        name="marimo",
        style="a notebook server: kernels behind WebSockets, close codes and reasons; sync tests",
        source=Git("marimo-team/marimo", "854f7f2910b4bb4b6aebe650efc1f83ad40d9bef", "0.24.0"),
        files=(r"pyproject\.toml", r"tests/.*"),
        pytest_args=(
            "tests/_server/api/endpoints",
            "tests/_server/api/test_middleware.py",
            "tests/_server/test_asgi.py",
        ),
        install=(
            "marimo==0.24.0",
            "pytest~=9.0.2",
            "pytest-asyncio~=1.3.0",
            "inline-snapshot~=0.29.0",
            "hypothesis",
            "dirty-equals~=0.9.0",
        ),
    ),
    Suite(
        name="dishka",
        style="dependency injection; async tests calling the sync client, asgi-lifespan",
        source=Sdist("dishka", "1.10.1"),
        files=(
            r"tests/__init__\.py",
            r"tests/integrations/(__init__|conftest|common)\.py",
            r"tests/integrations/(fastapi|starlette)/.*\.py",
        ),
        pytest_args=(
            "tests/integrations/fastapi/test_fastapi_websockets.py",
            "tests/integrations/starlette/test_starlette_websockets.py",
        ),
        install=(
            "dishka==1.10.1",
            "pytest~=9.0.1",
            "pytest-asyncio==1.3.*",
            "asgi-lifespan==2.1.*",
            "pydantic>=2.12",
        ),
        ci=True,  # a PyPI source distribution: CI fetches it in seconds
    ),
    Suite(
        name="wireup",
        style="dependency injection; sync tests, scoped containers per connection",
        source=Sdist("wireup", "2.13.0"),
        files=(r"pyproject\.toml", r"test/.*"),
        pytest_args=(
            "test/integration/fastapi/test_fastapi_integration.py",
            "test/integration/starlette/test_starlette_integration.py",
        ),
        install=(
            "wireup==2.13.0",
            "pytest>=8.3.3",
            "pytest-asyncio>=0.24",
            "pydantic-settings>=2.12,<3",
        ),
        ci=True,  # a PyPI source distribution: CI fetches it in seconds
    ),
    Suite(
        name="aioinject",
        style="dependency injection; an async fixture holding the sync client, anyio on asyncio and trio",
        source=Sdist("aioinject", "1.11.0"),
        files=(
            r"pyproject\.toml",
            r"tests/(__init__|conftest)\.py",
            r"tests/integrations/(__init__|conftest)\.py",
            r"tests/integrations/fastapi/.*\.py",
        ),
        pytest_args=("tests/integrations/fastapi",),
        install=("aioinject==1.11.0", "pytest>=8.4.1", "anyio>=4.10", "trio", "asgi-lifespan>=2.1"),
        ci=True,  # a PyPI source distribution: CI fetches it in seconds
    ),
    Suite(
        name="fastapi-injector",
        style="dependency injection; a sync test, request-scoped injection",
        source=Git(
            "matyasrichter/fastapi-injector", "27bc0431f47b0986c0d827ff40c910acc8331ce3", "0.9.0"
        ),
        files=(r"pyproject\.toml", r"setup\.cfg", r"tests/.*"),
        pytest_args=("tests",),
        install=("fastapi-injector==0.9.0", "pytest", "pytest-asyncio"),
    ),
    Suite(
        name="otel-fastapi",
        style="ASGI middleware tracing the handshake and messages; unittest classes",
        source=Sdist("opentelemetry-instrumentation-fastapi", "0.66b2"),
        files=(r"pyproject\.toml", r"tests/.*"),
        pytest_args=("-k", "WebSocket", "tests"),
        install=(
            "opentelemetry-instrumentation-fastapi==0.66b2",
            "opentelemetry-test-utils==0.66b2",
            "requests",
        ),
        ci=True,  # a PyPI source distribution: CI fetches it in seconds
    ),
)

#: The suites by name, in the order they run.
SUITES: dict[str, Suite] = {suite.name: suite for suite in _SUITES}
