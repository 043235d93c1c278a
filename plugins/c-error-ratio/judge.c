// The reference error-ratio judge (plugins/REFERENCE-JUDGE.md) in C.
//
// Bindings come from `wit-bindgen c analysis-sdk/wit --world judge` (see plugins/README.md and
// plugins/build). No stdio is used anywhere (snprintf would pull in WASI imports), so the core
// module imports nothing and the component is pure. Every string and list returned to the host is
// heap-allocated: the generated post-return function frees them.

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "judge.h"

typedef exports_rollout_judge_evaluator_evaluation_input_t input_t;
typedef exports_rollout_judge_evaluator_verdict_t verdict_t;
typedef rollout_judge_types_series_t series_t;

// A growable byte buffer for building messages without stdio.
typedef struct {
  char *ptr;
  size_t len;
  size_t cap;
} buf_t;

static void buf_reserve(buf_t *b, size_t extra) {
  if (b->len + extra <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + extra) cap *= 2;
  char *p = realloc(b->ptr, cap);
  if (p == NULL) abort();
  b->ptr = p;
  b->cap = cap;
}

static void buf_bytes(buf_t *b, const void *s, size_t n) {
  buf_reserve(b, n);
  memcpy(b->ptr + b->len, s, n);
  b->len += n;
}

static void buf_str(buf_t *b, const char *s) { buf_bytes(b, s, strlen(s)); }

static void buf_wit(buf_t *b, const judge_string_t *s) { buf_bytes(b, s->ptr, s->len); }

static void buf_u64(buf_t *b, uint64_t v) {
  char digits[20];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  buf_reserve(b, n);
  while (n > 0) b->ptr[b->len++] = digits[--n];
}

// Hands the buffer's bytes over as a WIT string (freed by the post-return function).
static void buf_into(buf_t *b, judge_string_t *out) {
  if (b->len == 0) {
    free(b->ptr);
    out->ptr = NULL;
    out->len = 0;
  } else {
    out->ptr = (uint8_t *)b->ptr;
    out->len = b->len;
  }
  b->ptr = NULL;
  b->len = b->cap = 0;
}

// `int(x)` of the reference: truncate toward zero; 0 for NaN, negative or infinite x.
static uint64_t to_u64(double x) {
  if (!isfinite(x) || x < 0.0) return 0;
  if (x >= 18446744073709551616.0) return UINT64_MAX;
  return (uint64_t)x;
}

static bool str_eq(const judge_string_t *s, const char *lit) {
  size_t n = strlen(lit);
  return s->len == n && memcmp(s->ptr, lit, n) == 0;
}

static bool all_digits(const uint8_t *p, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return false;
  }
  return true;
}

// `^-?[0-9]+(\.[0-9]+)?$`
static bool is_decimal(const judge_string_t *s) {
  const uint8_t *p = s->ptr;
  size_t n = s->len;
  if (n > 0 && p[0] == '-') {
    p++;
    n--;
  }
  const uint8_t *dot = memchr(p, '.', n);
  if (dot == NULL) return all_digits(p, n);
  size_t whole = (size_t)(dot - p);
  return all_digits(p, whole) && all_digits(dot + 1, n - whole - 1);
}

// `^[0-9]+$` that fits in u64.
static bool parse_u64(const judge_string_t *s, uint64_t *out) {
  if (!all_digits(s->ptr, s->len)) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < s->len; i++) {
    uint64_t d = (uint64_t)(s->ptr[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

static const judge_string_t *first_arg(const input_t *in, const char *name) {
  for (size_t i = 0; i < in->args.len; i++) {
    if (str_eq(&in->args.ptr[i].name, name)) return &in->args.ptr[i].value;
  }
  return NULL;
}

static const series_t *first_series(const input_t *in, const char *name) {
  for (size_t i = 0; i < in->series.len; i++) {
    if (str_eq(&in->series.ptr[i].name, name)) return &in->series.ptr[i];
  }
  return NULL;
}

static void totals(const series_t *s, double *num, double *den) {
  double n = 0.0, d = 0.0;
  for (size_t i = 0; i < s->ratios.len; i++) {
    n += s->ratios.ptr[i].numerator;
    d += s->ratios.ptr[i].denominator;
  }
  *num = n;
  *den = d;
}

static void err_msg(judge_string_t *err, const char *msg) { judge_string_dup(err, msg); }

// Step 3 of REFERENCE-JUDGE.md: every ratio needs 0 <= numerator <= denominator, both finite (a NaN
// fails every comparison).
static bool check_counts(const series_t *s, const char *name, judge_string_t *err) {
  for (size_t i = 0; i < s->ratios.len; i++) {
    double n = s->ratios.ptr[i].numerator, d = s->ratios.ptr[i].denominator;
    if (!(n >= 0.0 && n <= d && d <= DBL_MAX)) {
      buf_t b = {0};
      buf_str(&b, "invalid counts in series \"");
      buf_str(&b, name);
      buf_str(&b, "\" at ratio ");
      buf_u64(&b, (uint64_t)i);
      buf_str(&b, ": need 0 <= numerator <= denominator, both finite");
      buf_into(&b, err);
      return false;
    }
  }
  return true;
}

static void err_invalid_arg(judge_string_t *err, const char *name, const judge_string_t *value) {
  buf_t b = {0};
  buf_str(&b, "invalid arg \"");
  buf_str(&b, name);
  buf_str(&b, "\": \"");
  buf_wit(&b, value);
  buf_str(&b, "\"");
  buf_into(&b, err);
}

void exports_rollout_judge_evaluator_describe(exports_rollout_judge_evaluator_judge_info_t *ret) {
  judge_string_dup(&ret->name, "error-ratio-reference");
  judge_string_dup(&ret->version, "0.1.0");
  judge_string_dup(&ret->config_schema, "{}");
}

static bool evaluate(const input_t *in, verdict_t *ret, judge_string_t *err) {
  uint64_t min_requests = 100;
  const judge_string_t *raw = first_arg(in, "min-requests");
  if (raw != NULL && !parse_u64(raw, &min_requests)) {
    err_invalid_arg(err, "min-requests", raw);
    return false;
  }
  double tolerance = 0.01;
  raw = first_arg(in, "tolerance");
  if (raw != NULL) {
    if (!is_decimal(raw)) {
      err_invalid_arg(err, "tolerance", raw);
      return false;
    }
    // strtod needs a NUL-terminated copy; musl's strtod rounds correctly, like Rust's parse.
    char *text = malloc(raw->len + 1);
    if (text == NULL) abort();
    memcpy(text, raw->ptr, raw->len);
    text[raw->len] = '\0';
    tolerance = strtod(text, NULL);
    free(text);
  }

  const series_t *canary = first_series(in, "canary");
  if (canary == NULL) {
    err_msg(err, "missing series \"canary\"");
    return false;
  }
  const series_t *stable = first_series(in, "stable");
  if (stable == NULL) {
    err_msg(err, "missing series \"stable\"");
    return false;
  }
  if (!check_counts(canary, "canary", err) || !check_counts(stable, "stable", err)) return false;

  double cn, cd, sn, sd;
  totals(canary, &cn, &cd);
  totals(stable, &sn, &sd);
  double min_f = (double)min_requests;

  rollout_judge_types_detail_t *detail = calloc(1, sizeof *detail);
  if (detail == NULL) abort();
  judge_string_dup(&detail->name, "error-ratio");
  judge_string_dup(&detail->statistic, "ratio-delta");
  detail->samples.f0 = to_u64(cd);
  detail->samples.f1 = to_u64(sd);
  ret->details.ptr = detail;
  ret->details.len = 1;
  ret->score.is_some = false;
  ret->state.is_some = false;

  buf_t reason = {0};
  if (cd < min_f || sd < min_f) {
    uint64_t have = to_u64(fmin(cd, sd));  // ignores a NaN, like Rust's f64::min
    detail->value = 0.0;
    detail->samples_needed.is_some = true;
    detail->samples_needed.val = min_requests > have ? min_requests - have : 0;
    ret->phase = ROLLOUT_JUDGE_TYPES_PHASE_INCONCLUSIVE;
    judge_string_dup(&ret->code, "insufficient-data");
    buf_str(&reason, "need ");
    buf_u64(&reason, min_requests);
    buf_str(&reason, " requests per arm, have canary ");
    buf_u64(&reason, detail->samples.f0);
    buf_str(&reason, " stable ");
    buf_u64(&reason, detail->samples.f1);
  } else {
    double canary_ratio = cd != 0.0 ? cn / cd : 0.0;
    double stable_ratio = sd != 0.0 ? sn / sd : 0.0;
    double delta = canary_ratio - stable_ratio;
    detail->value = delta;
    if (delta > tolerance) {
      ret->phase = ROLLOUT_JUDGE_TYPES_PHASE_FAILED;
      judge_string_dup(&ret->code, "regression");
    } else {
      ret->phase = ROLLOUT_JUDGE_TYPES_PHASE_SUCCESSFUL;
      judge_string_dup(&ret->code, "ok");
    }
    buf_str(&reason, "canary errors ");
    buf_u64(&reason, to_u64(cn));
    buf_str(&reason, "/");
    buf_u64(&reason, detail->samples.f0);
    buf_str(&reason, ", stable errors ");
    buf_u64(&reason, to_u64(sn));
    buf_str(&reason, "/");
    buf_u64(&reason, detail->samples.f1);
  }
  buf_into(&reason, &ret->reason);
  return true;
}

bool exports_rollout_judge_evaluator_evaluate(input_t *input, verdict_t *ret, judge_string_t *err) {
  bool ok = evaluate(input, ret, err);
  exports_rollout_judge_evaluator_evaluation_input_free(input);
  return ok;
}
