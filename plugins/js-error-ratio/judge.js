// The reference error-ratio judge (plugins/REFERENCE-JUDGE.md) in JavaScript.
//
// Built into a pure component (no WASI imports) with componentize-js
// `-d stdio random clocks http fetch-event`; see plugins/README.md.
// WIT mapping: records are objects with camelCase fields, enums are strings, `option` is
// `undefined`, `u64`/`s64` are BigInt, tuples are arrays, and a thrown string becomes `err`.

const U64_MAX = (1n << 64n) - 1n;
const TWO_POW_64 = 18446744073709551616;

/** `int(x)` of the reference: truncate toward zero; 0 for NaN, negative or infinite x. */
function toU64(x) {
  if (!Number.isFinite(x) || x < 0) return 0n;
  if (x >= TWO_POW_64) return U64_MAX;
  return BigInt(Math.trunc(x));
}

/** The smaller of two numbers, ignoring a NaN (IEEE minNum, like Rust's f64::min and C's fmin). */
function fmin(a, b) {
  if (Number.isNaN(a)) return b;
  if (Number.isNaN(b)) return a;
  return b < a ? b : a;
}

function firstArg(args, name) {
  const arg = args.find((a) => a.name === name);
  return arg === undefined ? undefined : arg.value;
}

function firstSeries(series, name) {
  return series.find((s) => s.name === name);
}

// Step 3 of REFERENCE-JUDGE.md: 0 <= numerator <= denominator, both finite (NaN fails).
function checkCounts(series, name) {
  series.ratios.forEach((r, i) => {
    if (!(0 <= r.numerator && r.numerator <= r.denominator && r.denominator <= Number.MAX_VALUE)) {
      throw `invalid counts in series "${name}" at ratio ${i}: need 0 <= numerator <= denominator, both finite`;
    }
  });
}

function totals(series) {
  let num = 0.0;
  let den = 0.0;
  for (const r of series.ratios) {
    num += r.numerator;
    den += r.denominator;
  }
  return [num, den];
}

function detail(value, samples, samplesNeeded) {
  return {
    name: "error-ratio",
    statistic: "ratio-delta",
    value,
    effect: undefined,
    interval: undefined,
    samples,
    samplesNeeded,
    extra: [],
  };
}

export const evaluator = {
  describe() {
    return { name: "error-ratio-reference", version: "0.1.0", configSchema: "{}" };
  },

  evaluate(input) {
    let minRequests = 100n;
    let raw = firstArg(input.args, "min-requests");
    if (raw !== undefined) {
      if (!/^[0-9]+$/.test(raw) || BigInt(raw) > U64_MAX) {
        throw `invalid arg "min-requests": "${raw}"`;
      }
      minRequests = BigInt(raw);
    }
    let tolerance = 0.01;
    raw = firstArg(input.args, "tolerance");
    if (raw !== undefined) {
      if (!/^-?[0-9]+(\.[0-9]+)?$/.test(raw)) {
        throw `invalid arg "tolerance": "${raw}"`;
      }
      tolerance = Number(raw);
    }

    const canary = firstSeries(input.series, "canary");
    if (canary === undefined) throw 'missing series "canary"';
    const stable = firstSeries(input.series, "stable");
    if (stable === undefined) throw 'missing series "stable"';
    checkCounts(canary, "canary");
    checkCounts(stable, "stable");

    const [cn, cd] = totals(canary);
    const [sn, sd] = totals(stable);
    const samples = [toU64(cd), toU64(sd)];
    const minF = Number(minRequests);

    if (cd < minF || sd < minF) {
      const have = toU64(fmin(cd, sd));
      const needed = minRequests > have ? minRequests - have : 0n;
      return {
        phase: "inconclusive",
        code: "insufficient-data",
        score: undefined,
        reason: `need ${minRequests} requests per arm, have canary ${samples[0]} stable ${samples[1]}`,
        details: [detail(0.0, samples, needed)],
        state: undefined,
      };
    }

    const canaryRatio = cd !== 0 ? cn / cd : 0.0;
    const stableRatio = sd !== 0 ? sn / sd : 0.0;
    const delta = canaryRatio - stableRatio;
    const failed = delta > tolerance;
    return {
      phase: failed ? "failed" : "successful",
      code: failed ? "regression" : "ok",
      score: undefined,
      reason: `canary errors ${toU64(cn)}/${samples[0]}, stable errors ${toU64(sn)}/${samples[1]}`,
      details: [detail(delta, samples, undefined)],
      state: undefined,
    };
  },
};
