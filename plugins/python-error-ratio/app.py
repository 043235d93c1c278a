"""The reference error-ratio judge (plugins/REFERENCE-JUDGE.md) in Python.

Built into a pure component (no WASI imports) with componentize-py `--stub-wasi`; see plugins/README.md.
"""

import math

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports.types import Detail, EvaluationInput, JudgeInfo, Phase, Verdict

U64_MAX = (1 << 64) - 1
DIGITS = "0123456789"


def to_u64(x: float) -> int:
    """`int(x)` of the reference: truncate toward zero; 0 for NaN, negative or infinite x."""
    if not math.isfinite(x) or x < 0.0:
        return 0
    if x >= 18446744073709551616.0:
        return U64_MAX
    return int(x)


def fmin(a: float, b: float) -> float:
    """The smaller of two floats, ignoring a NaN (IEEE minNum, like Rust's f64::min and C's fmin)."""
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return b if b < a else a


def is_digits(s: str) -> bool:
    return len(s) > 0 and all(c in DIGITS for c in s)


def is_decimal(s: str) -> bool:
    """`^-?[0-9]+(\\.[0-9]+)?$`"""
    body = s[1:] if s.startswith("-") else s
    whole, dot, frac = body.partition(".")
    return is_digits(whole) and (not dot or is_digits(frac))


def first_arg(args, name):
    for arg in args:
        if arg.name == name:
            return arg.value
    return None


def first_series(series, name):
    for s in series:
        if s.name == name:
            return s
    return None


def check_counts(series, name):
    """Step 3 of REFERENCE-JUDGE.md: 0 <= numerator <= denominator, both finite (NaN fails)."""
    for i, r in enumerate(series.ratios):
        if not (0.0 <= r.numerator <= r.denominator and math.isfinite(r.denominator)):
            raise Err(
                'invalid counts in series "%s" at ratio %d: need 0 <= numerator <= denominator, both finite'
                % (name, i)
            )


def totals(series):
    num = 0.0
    den = 0.0
    for r in series.ratios:
        num += r.numerator
        den += r.denominator
    return num, den


class Evaluator(exports.Evaluator):
    def describe(self) -> JudgeInfo:
        return JudgeInfo(name="error-ratio-reference", version="0.1.0", config_schema="{}")

    def evaluate(self, input: EvaluationInput) -> Verdict:
        min_requests = 100
        raw = first_arg(input.args, "min-requests")
        if raw is not None:
            if not is_digits(raw) or int(raw) > U64_MAX:
                raise Err('invalid arg "min-requests": "%s"' % raw)
            min_requests = int(raw)
        tolerance = 0.01
        raw = first_arg(input.args, "tolerance")
        if raw is not None:
            if not is_decimal(raw):
                raise Err('invalid arg "tolerance": "%s"' % raw)
            tolerance = float(raw)

        canary = first_series(input.series, "canary")
        if canary is None:
            raise Err('missing series "canary"')
        stable = first_series(input.series, "stable")
        if stable is None:
            raise Err('missing series "stable"')
        check_counts(canary, "canary")
        check_counts(stable, "stable")

        cn, cd = totals(canary)
        sn, sd = totals(stable)
        samples = (to_u64(cd), to_u64(sd))
        min_f = float(min_requests)

        if cd < min_f or sd < min_f:
            have = to_u64(fmin(cd, sd))
            needed = min_requests - have if min_requests > have else 0
            reason = "need %d requests per arm, have canary %d stable %d" % (
                min_requests,
                samples[0],
                samples[1],
            )
            return Verdict(
                phase=Phase.INCONCLUSIVE,
                code="insufficient-data",
                score=None,
                reason=reason,
                details=[detail(0.0, samples, needed)],
                state=None,
            )

        canary_ratio = cn / cd if cd != 0.0 else 0.0
        stable_ratio = sn / sd if sd != 0.0 else 0.0
        delta = canary_ratio - stable_ratio
        if delta > tolerance:
            phase, code = Phase.FAILED, "regression"
        else:
            phase, code = Phase.SUCCESSFUL, "ok"
        reason = "canary errors %d/%d, stable errors %d/%d" % (
            to_u64(cn),
            samples[0],
            to_u64(sn),
            samples[1],
        )
        return Verdict(
            phase=phase,
            code=code,
            score=None,
            reason=reason,
            details=[detail(delta, samples, None)],
            state=None,
        )


def detail(value, samples, needed):
    return Detail(
        name="error-ratio",
        statistic="ratio-delta",
        value=value,
        effect=None,
        interval=None,
        samples=samples,
        samples_needed=needed,
        extra=[],
    )
