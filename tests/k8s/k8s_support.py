"""Offline Kubernetes checks shared by the k8s tests: helm, schemas, cron, the Dockerfile layout."""

from __future__ import annotations

import copy
import fnmatch
import functools
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "dataplatform"
OPERATOR_DIR = REPO / "spark-operator"
# The operator's own CRDs at the version the chart deploys, installed by `make setup`
# (scripts/fetch_crds.sh, from the operator's Go module) into the project's cache.
SPARK_OPERATOR_VERSION = "v2.5.2"
CACHE = Path(os.environ.get("DATAPLATFORM_CACHE") or Path.home() / ".cache" / "dataplatform")
CRDS = CACHE / "k8s" / f"spark-operator-{SPARK_OPERATOR_VERSION}" / "crds"
# The Kubernetes version manifests are rendered for and validated against (kubernetes-validate
# bundles its schemas); helm built with `go install` defaults to v1.20 without --kube-version.
K8S_VERSION = "1.34.0"
RELEASE = "dataplatform"
NAMESPACE = "dataplatform"
HELM_VERSION = "v3.21.4"

# Value sets every check runs over: the chart's defaults and the documented examples.
VALUE_SETS: dict[str, list[Path]] = {
    "default": [],
    "production": [CHART / "examples" / "production.yaml"],
    "dev": [CHART / "examples" / "dev.yaml"],
    "local": [CHART / "examples" / "local.yaml"],
}
CRD_KINDS = {
    "SparkApplication": "sparkoperator.k8s.io_sparkapplications.yaml",
    "ScheduledSparkApplication": "sparkoperator.k8s.io_scheduledsparkapplications.yaml",
}


class HelmMissingError(RuntimeError):
    """helm is part of `make setup`; its absence is a setup failure, not a reason to skip."""


class CrdsMissingError(RuntimeError):
    """The operator's CRDs are part of `make setup`; their absence fails, it never skips."""


@functools.cache
def helm_binary() -> str:
    cached = CACHE / "bin" / "helm"
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    found = shutil.which("helm")
    if found:
        return found
    raise HelmMissingError(
        f"helm not found in {cached} nor on PATH: run `make setup` "
        f"(go install helm.sh/helm/v3/cmd/helm@{HELM_VERSION})"
    )


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helm offline (no repository, no cluster) and return the finished process."""
    env = {
        **os.environ,
        "HELM_CACHE_HOME": "/tmp/dataplatform-helm/cache",
        "HELM_CONFIG_HOME": "/tmp/dataplatform-helm/config",
        "HELM_DATA_HOME": "/tmp/dataplatform-helm/data",
    }
    proc = subprocess.run([helm_binary(), *args], capture_output=True, text=True, env=env, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"helm {shlex.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}"
        )
    return proc


def template_args(values: list[Path], sets: dict[str, str] | None = None) -> list[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", K8S_VERSION]
    for path in values:
        args += ["-f", str(path)]
    for key, value in (sets or {}).items():
        args += ["--set", f"{key}={value}"]
    return args


def render_text(values: list[Path], sets: dict[str, str] | None = None) -> str:
    return helm(*template_args(values, sets)).stdout


@functools.cache
def _render_cached(values: tuple[Path, ...], sets: tuple[tuple[str, str], ...]) -> tuple[dict[str, Any], ...]:
    docs = [d for d in yaml.safe_load_all(render_text(list(values), dict(sets))) if d]
    return tuple(docs)


def render(values: list[Path], sets: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The rendered documents (deep copies: tests may mutate them)."""
    return copy.deepcopy(list(_render_cached(tuple(values), tuple(sorted((sets or {}).items())))))


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def spark_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(name, spec) of every SparkApplication and of every ScheduledSparkApplication's template."""
    specs = [(d["metadata"]["name"], d["spec"]) for d in of_kind(docs, "SparkApplication")]
    specs += [
        (d["metadata"]["name"], d["spec"]["template"]) for d in of_kind(docs, "ScheduledSparkApplication")
    ]
    return specs


# ---------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------
def _close_objects(node: Any) -> None:
    """Reject unknown fields, as the API server does for structural schemas (kubeconform -strict)."""
    if isinstance(node, dict):
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


@functools.cache
def crd_schema(kind: str) -> dict[str, Any]:
    """The CRD's openAPIV3Schema (spec.versions[0]), with unknown fields rejected."""
    path = CRDS / CRD_KINDS[kind]
    if not path.is_file():
        raise CrdsMissingError(
            f"{path} missing: run `make setup` (scripts/fetch_crds.sh installs the spark-operator "
            f"{SPARK_OPERATOR_VERSION} CRDs)"
        )
    crd = yaml.safe_load(path.read_text())
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1beta2", f"{path}: expected v1beta2, found {version['name']}"
    schema: dict[str, Any] = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    _close_objects(schema)
    return schema


def validate_document(doc: dict[str, Any]) -> None:
    """Validate one rendered document against its schema; raise AssertionError naming the problem."""
    import jsonschema
    import kubernetes_validate

    kind = doc.get("kind")
    name = doc.get("metadata", {}).get("name")
    if kind in CRD_KINDS:
        assert doc["apiVersion"] == "sparkoperator.k8s.io/v1beta2", f"{kind}/{name}: {doc['apiVersion']}"
        validator = jsonschema.Draft7Validator(crd_schema(kind))
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:10]]
            raise AssertionError(f"{kind}/{name} does not match the CRD:\n" + "\n".join(lines))
        return
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        raise AssertionError(f"{kind}/{name}: {exc.message} at {'.'.join(map(str, exc.path))}") from None
    except kubernetes_validate.SchemaNotFoundError:
        raise AssertionError(f"{kind}/{name}: no schema for {doc.get('apiVersion')} {kind}") from None


# ---------------------------------------------------------------------------------------------
# Cron (robfig/cron standard parser, as the operator uses: 5 fields, no seconds)
# ---------------------------------------------------------------------------------------------
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    (
        "month",
        1,
        12,
        {
            m: i + 1
            for i, m in enumerate(
                ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
            )
        },
    ),
    ("day of week", 0, 6, {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}),
)


def cron_errors(expression: str) -> list[str]:
    """Problems of a 5-field cron expression (empty when valid)."""
    fields = expression.split()
    if len(fields) != 5:
        return [f"{expression!r}: {len(fields)} fields, expected 5 (minute hour day month weekday)"]
    errors: list[str] = []
    for text, (label, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for part in text.split(","):
            base, _, step = part.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                errors.append(f"{label}: bad step in {part!r}")
            if base in ("*", "?") and (base == "*" or label in ("day of month", "day of week")):
                continue
            bounds = base.split("-")
            if len(bounds) > 2 or not all(bounds):
                errors.append(f"{label}: cannot read {part!r}")
                continue
            values = []
            for bound in bounds:
                value = names.get(bound.upper(), int(bound) if bound.isdigit() else None)
                if value is None:
                    errors.append(f"{label}: {bound!r} is not a number or name")
                elif not low <= value <= high:
                    errors.append(f"{label}: {value} out of {low}-{high}")
                values.append(value)
            if len(values) == 2 and None not in values and values[0] > values[1]:  # type: ignore[operator]
                errors.append(f"{label}: empty range {part!r}")
    return errors


# ---------------------------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------------------------
@dataclass
class Instruction:
    keyword: str
    args: list[str]
    flags: dict[str, str]
    raw: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def copies(self) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword in ("COPY", "ADD")]

    def last(self, keyword: str) -> Instruction | None:
        found = [i for i in self.instructions if i.keyword == keyword]
        return found[-1] if found else None


def parse_dockerfile(path: Path = REPO / "Dockerfile") -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with continuation lines joined and ARGs expanded in FROM."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = rest.strip().partition("=")
            args[name] = default
            continue
        if keyword == "FROM":
            words = re.sub(
                r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), ""), rest
            ).split()
            words = [w for w in words if not w.startswith("--")]
            alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=alias))
            continue
        if keyword in ("COPY", "ADD") and not rest.lstrip().startswith("["):
            words = shlex.split(rest)
            flags = {}
            while words and words[0].startswith("--"):
                key, _, value = words.pop(0)[2:].partition("=")
                flags[key] = value
            stages[-1].instructions.append(Instruction(keyword, words, flags, line))
        else:
            stages[-1].instructions.append(Instruction(keyword, [rest], {}, line))
    return args, stages


def stage(stages: list[Stage], name: str) -> Stage:
    found = [s for s in stages if s.name == name]
    assert found, f"Dockerfile has no stage named {name!r}"
    return found[0]


def dockerignore_patterns(path: Path = REPO / ".dockerignore") -> list[str]:
    lines = path.read_text().splitlines() if path.is_file() else []
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def dockerignored(relative: str, patterns: list[str]) -> bool:
    """Whether a context path is left out of the build (Docker's rules, enough for our patterns)."""
    excluded = False
    parts = relative.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").strip("/")
        if pat.startswith("**/"):
            hit = any(
                fnmatch.fnmatch(p.split("/")[-1], pat[3:]) or fnmatch.fnmatch(p, pat[3:]) for p in prefixes
            )
        else:
            hit = any(fnmatch.fnmatch(p, pat) for p in prefixes)
        if hit:
            excluded = not negate
    return excluded


def image_path_to_repo(image_path: str, build_stage: Stage) -> Path | None:
    """Map a file of the image back to the repository through the stage's COPY instructions."""
    best: tuple[int, Path] | None = None
    workdir = "/"
    for instruction in build_stage.instructions:
        if instruction.keyword == "WORKDIR":
            workdir = instruction.args[0].strip()
            continue
        if instruction.keyword not in ("COPY", "ADD") or "from" in instruction.flags:
            continue
        if len(instruction.args) != 2 or "*" in instruction.args[0]:
            continue
        source, dest = instruction.args
        dest = dest if dest.startswith("/") else f"{workdir.rstrip('/')}/{dest}"
        dest_dir = dest.rstrip("/") + "/"
        if source.endswith("/") and image_path.startswith(dest_dir):
            if best is None or len(dest_dir) >= best[0]:
                best = (len(dest_dir), REPO / source / image_path[len(dest_dir) :])
        elif image_path == dest.rstrip("/"):
            best = (len(dest), REPO / source)
    return best[1] if best else None
