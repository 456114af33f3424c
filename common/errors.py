"""Errors that end a job with one clear line instead of a traceback."""

from __future__ import annotations

import re
import traceback


class PlatformError(Exception):
    """An expected failure: bad input or a failing dependency. Its message is shown as is."""


class ConfigError(PlatformError):
    """A setting is missing or wrong; the message names the setting."""

    def __init__(self, setting: str, cause: str) -> None:
        super().__init__(f"{setting}: {cause}")
        self.setting = setting


class SourceError(PlatformError):
    """An upstream source (GitHub, Wikimedia, data.gouv.fr) failed after bounded retries."""


class StorageError(PlatformError):
    """The lake, MinIO or MongoDB failed after bounded retries."""


# A Java class name (`java.lang.ClassNotFoundException`) shortened to its simple name.
_JAVA_CLASS = re.compile(r"^(?:[a-z_$][\w$]*\.)+([A-Z][\w$]*)(?=:|$)")
# The line of a Python traceback that names the exception (`ModuleNotFoundError: No module ...`).
_PYTHON_RAISE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\b(?::.*)?$")
_LAMBDA_MISMATCH = "cannot assign instance of java.lang.invoke.SerializedLambda"
_PY4J_CALL = re.compile(r"^An error occurred while calling [\w.]+\.?$")
# A Py4J error without text: the JVM stopped answering (it died; its own log says why).
_JVM_GONE = (
    "the Spark JVM died during the run (its log above says why; for java.lang.OutOfMemoryError, "
    "raise SPARK_DRIVER_MEMORY)"
)


def one_line(exc: BaseException, limit: int = 300) -> str:
    """One line naming the root cause of `exc`, for an `error:` line.

    Spark failures arrive as Py4J errors whose first line is `An error occurred while calling
    o134.save.`, with the cause several `Caused by:` lines down the Java trace, and an executor's
    Python failure is a traceback inside that trace. The deepest cause is what a user can act on
    (a class the executors cannot load, an unreachable endpoint, a module they cannot import).
    """
    text = _full_text(exc)
    if _jvm_gone(exc, text):
        return _JVM_GONE
    line = _root_line(text) or type(exc).__name__
    line = _JAVA_CLASS.sub(r"\1", line.strip())
    if _LAMBDA_MISMATCH in line:
        # Java deserialization's way of saying that the class a task's lambda belongs to is not on
        # the executor's class path: the cause is missing jars, not a cast.
        line = f"a class the executors cannot load (their jars lack it): {line}"
    return line[:limit]


def _jvm_gone(exc: BaseException, text: str) -> bool:
    """Whether `exc` says the JVM stopped answering: a Py4J error without text, or a refused or
    reset connection to its gateway (the next call after it died), itself or among its causes
    (as Python prints them: `from None` hides the context)."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        from_py4j = type(error).__module__.startswith("py4j")
        if from_py4j and not (text if error is exc else _full_text(error)).strip():
            return True
        if type(error).__name__ == "Py4JNetworkError" or (
            isinstance(error, ConnectionError) and _raised_in_py4j(error)
        ):
            return True
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return False


def _raised_in_py4j(error: BaseException) -> bool:
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and "py4j" in frames[-1].filename


def _full_text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a Py4J error asks the (maybe dead) JVM for its text
        text = ""
    # PySpark's converted exceptions keep the Java trace, with its causes, beside the message.
    trace = getattr(exc, "_stackTrace", None)
    if isinstance(trace, str) and "Caused by: " in trace and "Caused by: " not in text:
        text = f"{text}\n{trace}"
    return text


def _root_line(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    causes = [i for i, line in enumerate(lines) if line.startswith("Caused by: ")]
    if causes:
        start = causes[-1]
        lines[start] = lines[start].removeprefix("Caused by: ")
        lines = lines[start:]
    if lines and "Traceback (most recent call last)" in "\n".join(lines[:3]):
        raised = _python_raise(lines)
        if raised:
            return raised
    meaningful = [line for line in lines if line.strip() and not _PY4J_CALL.match(line.strip())]
    return meaningful[0].lstrip(": ") if meaningful else ""


def _python_raise(lines: list[str]) -> str:
    """The exception line of the first Python traceback in `lines` (before any Java frame)."""
    found = ""
    for line in lines:
        if line.startswith("\tat "):
            break
        if _PYTHON_RAISE.match(line):
            found = line
    return found
