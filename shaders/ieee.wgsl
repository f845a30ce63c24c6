// IEEE 754 float math for rendered expressions (packages/webgpu/src/render.ts).
//
// NOTE: WGSL lets implementations assume that no value is Inf or NaN, and Dawn's Vulkan backend
// relies on it: Tint's SPIR-V declares no SignedZeroInfNanPreserve execution mode, so by the
// Vulkan spec every float op may be treated as NotInf/NotNaN/NSZ, and Mesa's NIR folds
// x - x to 0, (x + y) - y to x, x * 0 to 0 and x / 0 to 0 (Dawn has no toggle to change that).
// So every special case is decided here with integer tests on the bits, and a float op's own
// result is used only where the operands are finite (and, for div, the divisor non-zero).
//
// The built-ins are also not accurate enough where a result is small: log has only absolute
// accuracy near 1, tanh(x) is (e^2x - 1) / (e^2x + 1) (1.19e-7 for 1e-7), pow(0, -1) is 0 and
// exp's error grows with |x|. The functions below are accurate to a few ulp (relative).
// (The preprocessor leaves out the helpers a kernel does not use, this comment with the first.)
fn kiln_special(b: u32) -> bool {
  return (b & 0x7f800000u) == 0x7f800000u;
}

fn kiln_add(x: f32, y: f32) -> f32 {
  let bx = bitcast<u32>(x);
  let by = bitcast<u32>(y);
  let sx = kiln_special(bx);
  let sy = kiln_special(by);
  // Two specials with equal bits are one infinity (or NaN); otherwise they make a NaN.
  let special = select(select(y, x, sx), kiln_nan(), sx && sy && bx != by);
  return select(x + y, special, sx || sy);
}

fn kiln_sub(x: f32, y: f32) -> f32 {
  return kiln_add(x, bitcast<f32>(bitcast<u32>(y) ^ 0x80000000u));
}

fn kiln_mul(x: f32, y: f32) -> f32 {
  let bx = bitcast<u32>(x);
  let by = bitcast<u32>(y);
  let ax = bx & 0x7fffffffu;
  let ay = by & 0x7fffffffu;
  // With an Inf or NaN operand: NaN if either is NaN or the other is zero, else a signed Inf.
  let nan = ax > 0x7f800000u || ay > 0x7f800000u || ax == 0u || ay == 0u;
  let inf = bitcast<f32>(((bx ^ by) & 0x80000000u) | 0x7f800000u);
  return select(x * y, select(inf, kiln_nan(), nan), ax >= 0x7f800000u || ay >= 0x7f800000u);
}

fn kiln_div(x: f32, y: f32) -> f32 {
  let bx = bitcast<u32>(x);
  let by = bitcast<u32>(y);
  let ax = bx & 0x7fffffffu;
  let ay = by & 0x7fffffffu;
  let sign = (bx ^ by) & 0x80000000u;
  let nan = ax > 0x7f800000u || ay > 0x7f800000u || (ax == 0x7f800000u && ay == 0x7f800000u) || (ax == 0u && ay == 0u);
  // x / Inf is a signed zero; Inf / y and x / 0 are signed infinities.
  let v = select(bitcast<f32>(sign | 0x7f800000u), bitcast<f32>(sign), ay == 0x7f800000u);
  return select(x / y, select(v, kiln_nan(), nan), ax >= 0x7f800000u || ay >= 0x7f800000u || ay == 0u);
}

// 2^k for k in [-126, 127].
fn kiln_pow2(k: i32) -> f32 {
  return bitcast<f32>(u32(k + 127) << 23u);
}

// exp by Cody-Waite reduction: x = k ln2 + r with k ln2_hi exact; the built-in exp is accurate
// for |r| <= ln2 / 2, and 2^k is applied in two steps so that a subnormal result rounds once.
fn kiln_exp(x: f32) -> f32 {
  let k = round(clamp(x, -110.0f, 90.0f) * 1.44269504f);
  let r = (x - k * 0.693145751953125f) - k * 1.42860677e-6f;
  let ki = i32(k);
  let k1 = ki / 2;
  let p = exp(r) * kiln_pow2(k1) * kiln_pow2(ki - k1);
  let b = bitcast<u32>(x);
  let v = select(select(p, 0.0f, x < -104.0f), kiln_inf(), x > 89.0f);
  return select(v, x, (b & 0x7fffffffu) > 0x7f800000u);
}

// log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1]: 2 atanh(s), s = f / (2 + f), as f - f^2/2 +
// s (f^2/2 + R(s^2)) (fdlibm's arrangement; R's coefficients are 2 / (2k + 1)).
fn kiln_log1p_core(f: f32) -> f32 {
  let s = f / (2.0f + f);
  let z = s * s;
  let r = z * (0.666666667f + z * (0.4f + z * (0.285714286f + z * (0.222222222f + z * 0.181818182f))));
  let hfsq = 0.5f * f * f;
  return f - (hfsq - s * (hfsq + r));
}

fn kiln_log(x: f32) -> f32 {
  let b0 = bitcast<u32>(x);
  // Subnormals are scaled into the normal range first.
  let sub = b0 < 0x00800000u;
  let b = select(b0, bitcast<u32>(x * 8388608.0f), sub);
  var e = i32(b >> 23u) - select(127, 150, sub);
  var m = bitcast<f32>((b & 0x007fffffu) | 0x3f800000u);
  let big = m > 1.41421356f;
  m = select(m, m * 0.5f, big);
  e = e + select(0, 1, big);
  let ef = f32(e);
  let v = ef * 0.693145751953125f + (kiln_log1p_core(m - 1.0f) + ef * 1.42860677e-6f);
  // Specials: log(+-0) = -Inf, log(x < 0) = NaN, log(+Inf) = +Inf, log(NaN) = NaN.
  let a = b0 & 0x7fffffffu;
  let special = select(select(kiln_nan(), -kiln_inf(), a == 0u), x, b0 == 0x7f800000u || a > 0x7f800000u);
  return select(v, special, b0 >= 0x7f800000u || a == 0u);
}

fn kiln_log1p(x: f32) -> f32 {
  let near = x > -0.29289322f && x < 0.41421356f;
  return select(kiln_log(1.0f + x), kiln_log1p_core(x), near);
}

// expm1: Taylor series for |x| < 1/2 (no cancellation), exp(x) - 1 beyond.
fn kiln_expm1(x: f32) -> f32 {
  let p = x * (1.0f + x * (0.5f + x * (0.166666667f + x * (0.0416666667f + x * (0.00833333333f + x * (0.00138888889f + x * (0.000198412698f + x * 0.0000248015873f)))))));
  return select(kiln_exp(x) - 1.0f, p, abs(x) < 0.5f);
}

// erfc(x + dx) for x >= 1/2 (dx tiny: the rounding error of x) as exp(-(x + dx)^2) R(1 / (1 + x/2)),
// R fitted for relative error; x^2 is split as xh^2 (exact: xh has 12 bits) + (x - xh)(x + xh)
// so that exp's argument carries no rounding of x^2.
fn kiln_erfc_tail2(x: f32, dx: f32) -> f32 {
  let t = 1.0f / (1.0f + 0.5f * x);
  let r = 3.76845401e-06f + t * (0.281978756f + t * (0.283656269f + t * (0.234757066f + t * (0.235610828f + t * (-0.108460985f + t * (0.406784952f + t * (-0.611287892f + t * (0.35139522f + t * -0.0744458959f))))))));
  let xh = bitcast<f32>(bitcast<u32>(x) & 0xfffff000u);
  let e = kiln_exp(-xh * xh) * kiln_exp(-((x - xh) * (x + xh) + 2.0f * x * dx));
  return select(e * r, 0.0f, x > 10.1f);
}

fn kiln_erfc_tail(x: f32) -> f32 {
  return kiln_erfc_tail2(x, 0.0f);
}

// erf(x) = x P(x^2) for |x| <= 1 (P fitted for relative error), 1 - erfc(|x|) beyond.
fn kiln_erf(x: f32) -> f32 {
  let ax = abs(x);
  let z = x * x;
  let small = x * (1.12837911f + z * (-0.37612626f + z * (0.112835854f + z * (-0.0268538203f + z * (0.00518834265f + z * (-0.000801031187f + z * 0.0000785421944f))))));
  let big = 1.0f - kiln_erfc_tail(min(ax, 11.0f));
  let v = select(select(big, -big, x < 0.0f), small, ax <= 1.0f);
  return select(v, x, kiln_isnan(x));
}

fn kiln_erfc(x: f32) -> f32 {
  let v = select(1.0f - kiln_erf(x), kiln_erfc_tail(min(x, 11.0f)), x >= 0.5f);
  return select(v, x, kiln_isnan(x));
}

// The standard normal CDF erfc(-x / sqrt 2) / 2. In the tail (x <= -1/sqrt 2) the rounding of
// x / sqrt 2 would be amplified ~z^2 times, so z = -x / sqrt 2 is carried as z_h + z_l.
fn kiln_ndtr(x: f32) -> f32 {
  let p = x * 0.707106769f;
  let x_h = kiln_hi12(x);
  let x_l = x - x_h;
  let err = (((x_h * 0.70703125f - p) + x_h * 0.0000755311848f) + x_l * 0.70703125f) + x_l * 0.0000755311848f;
  let z = -p;
  let tail = 0.5f * kiln_erfc_tail2(min(z, 11.0f), -err);
  return select(0.5f * kiln_erfc(z), tail, z >= 0.5f);
}

// 32 x 32 -> 64-bit product as (low, high).
fn kiln_mul64(a: u32, b: u32) -> vec2u {
  let al = a & 0xffffu;
  let ah = a >> 16u;
  let bl = b & 0xffffu;
  let bh = b >> 16u;
  let ll = al * bl;
  let mid = al * bh + (ll >> 16u);
  let mid2 = ah * bl + (mid & 0xffffu);
  let hi = ah * bh + (mid >> 16u) + (mid2 >> 16u);
  return vec2u((mid2 << 16u) | (ll & 0xffffu), hi);
}

struct KilnQuadrant {
  r: f32,
  q: u32,
}

// |x| = (q + r / (pi/2)) (pi/2) mod 2 pi, |r| <= pi/4, for finite |x| >= pi/4: Payne-Hanek, the
// 24-bit mantissa times a 96-bit window of the bits of 2/pi (the built-ins reduce by an f32
// multiple of pi, which is noise beyond ~1e5: sin(1e10) came out -1).
fn kiln_reduce_half_pi(ax: f32) -> KilnQuadrant {
  var two_over_pi = array<u32, 9>(0xa2f9836eu, 0x4e441529u, 0xfc2757d1u, 0xf534ddc0u, 0xdb629599u, 0x3c439041u, 0xfe5163abu, 0xdebbc561u, 0xb7246e3au);
  let bits = bitcast<u32>(ax);
  let m = (bits & 0x007fffffu) | 0x00800000u;
  let k = i32(bits >> 23u) - 150; // |x| = m 2^k
  // Bits of 2/pi above a contribute multiples of 4 (whole turns): the window starts at bit a.
  let a = u32(max(1, k - 1));
  let wi = (a - 1u) >> 5u;
  let sh = (a - 1u) & 31u;
  var w: array<u32, 3>;
  for (var j = 0u; j < 3u; j++) {
    let hi = two_over_pi[wi + j];
    let lo = two_over_pi[wi + j + 1u];
    w[j] = select((hi << sh) | (lo >> (32u - sh)), hi, sh == 0u);
  }
  // P = m * window, 120 bits in p0..p3; x 2/pi = P 2^(k - a - 95).
  let t2 = kiln_mul64(m, w[2]);
  let t1 = kiln_mul64(m, w[1]);
  let t0 = kiln_mul64(m, w[0]);
  let p1 = t2.y + t1.x;
  let c1 = select(0u, 1u, p1 < t2.y);
  let p2a = t1.y + t0.x;
  let c2a = select(0u, 1u, p2a < t1.y);
  let p2 = p2a + c1;
  let c2 = c2a + select(0u, 1u, p2 < p2a);
  let p3 = t0.y + c2;
  // The binary point is at bit b = a + 95 - k (94..120); take the 64 bits [b - 62, b + 2).
  let d = u32(i32(a) + 1 - k); // b - 62 - 32, in 0..26: a shift within words 1..3
  let xl = select((p1 >> d) | (p2 << (32u - d)), p1, d == 0u);
  let xh = select((p2 >> d) | (p3 << (32u - d)), p2, d == 0u);
  var q = xh >> 30u;
  var fh = xh & 0x3fffffffu;
  var fl = xl;
  // A fraction of 1/2 or more is the next quadrant minus (1 - fraction).
  let up = fh >= 0x20000000u;
  if (up) {
    fl = ~fl + 1u;
    fh = (~fh + select(0u, 1u, fl == 0u)) & 0x3fffffffu;
    q = q + 1u;
  }
  // fraction = (fh 2^32 + fl) 2^-62, normalised so its leading bit is kept.
  let z = countLeadingZeros(fh);
  let top = select(select((fh << z) | (fl >> (32u - z)), fh, z == 0u), fl, fh == 0u);
  let scale = select(kiln_pow2(-30 - i32(z)), kiln_pow2(-62 + 0), fh == 0u);
  let f = f32(top) * scale;
  let r = f * 1.57079637f;
  return KilnQuadrant(select(r, -r, up), q & 3u);
}

// sin and cos of any finite argument; NaN for +-Inf and NaN.
fn kiln_sincos(x: f32, cosine: bool) -> f32 {
  let ax = abs(x);
  var red = KilnQuadrant(ax, 0u);
  if (ax > 0.785398163f) {
    red = kiln_reduce_half_pi(ax);
  }
  // cos(x) = sin(|x| + pi/2): one more quadrant; sin is odd in x.
  let q = (red.q + select(0u, 1u, cosine)) & 3u;
  let v = select(sin(red.r), cos(red.r), (q & 1u) == 1u);
  let s = select(v, -v, q >= 2u);
  let signed = select(s, -s, !cosine && x < 0.0f);
  return select(signed, kiln_nan(), kiln_special(bitcast<u32>(x)));
}

fn kiln_odd_integer(y: f32) -> bool {
  // |y| < 2^24 is where an f32 can be odd; floor(y / 2) * 2 is exact there.
  return abs(y) < 16777216.0f && floor(y) == y && floor(y * 0.5f) * 2.0f != y;
}

// The high 12 significant bits of x: products of two such halves are exact in f32. The split
// is on the bits, so no compiler can undo it by reassociating float ops.
fn kiln_hi12(x: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(x) & 0xfffff000u);
}

// |x|^y for finite non-zero x and finite y, within a few ulp: y log2|x| is carried in more than
// f32 precision (its rounding would cost |y ln x| 2^-24, ~50 ulp near overflow). With
// x = 2^n m, m in [sqrt(1/2), sqrt(2)), f = m - 1 and s = f / (2 + f) = s_h + s_l:
// log2(m) = (2 s + 2/3 s^3 + ...) / ln 2 = Q_h + Q_l with Q_h = 2 hi12(s_h) hi12(1/ln2) exact.
fn kiln_pow_finite(ax: f32, y: f32) -> f32 {
  let b0 = bitcast<u32>(ax);
  let sub = b0 < 0x00800000u;
  let b = select(b0, bitcast<u32>(ax * 8388608.0f), sub);
  var n = i32(b >> 23u) - select(127, 150, sub);
  var m = bitcast<f32>((b & 0x007fffffu) | 0x3f800000u);
  let big = m > 1.41421356f;
  m = select(m, m * 0.5f, big);
  n = n + select(0, 1, big);
  let f = m - 1.0f;
  let s_h = f / (2.0f + f);
  // R = f - s_h (2 + f), exactly enough: f - 2 s_h and the first product cancel exactly.
  let a_h = kiln_hi12(s_h);
  let a_l = s_h - a_h;
  let f_h = kiln_hi12(f);
  let f_l = f - f_h;
  let r = ((f - 2.0f * s_h) - a_h * f_h) - (a_h * f_l + a_l * f_h) - a_l * f_l;
  let s_l = r / (2.0f + f);
  let z = s_h * s_h;
  let t = s_h * z * (0.666666687f + z * (0.400000006f + z * (0.285714298f + z * (0.222222224f + z * (0.181818187f + z * 0.15384616f)))));
  let c_h = 1.4423828125f;
  let c_l = 0.000312228396f;
  let q_h = 2.0f * a_h * c_h;
  let q_l = 2.0f * (a_l * c_h + s_h * c_l) + (2.0f * s_l + t) * 1.44269504f;
  // P = y (n + q_h + q_l) = k + r with k an integer: the large exact parts lose k first.
  let nf = f32(n);
  let y_h = kiln_hi12(y);
  let y_l = y - y_h;
  let p = y * (nf + (q_h + q_l));
  let k = round(clamp(p, -200.0f, 200.0f));
  let q_hh = kiln_hi12(q_h);
  let rest = y_l * nf + (y_h * (q_h - q_hh) + y_l * q_h + y * q_l);
  let rr = ((y_h * nf - k) + y_h * q_hh) + rest;
  let ki = i32(k);
  let k1 = ki / 2;
  let v = exp(rr * 0.693147182f) * kiln_pow2(clamp(k1, -126, 127)) * kiln_pow2(clamp(ki - k1, -126, 127));
  return select(select(v, 0.0f, p < -160.0f), kiln_inf(), p > 140.0f);
}

// pow with JavaScript's Math.pow special cases (core's reference).
fn kiln_pow(x: f32, y: f32) -> f32 {
  let bx = bitcast<u32>(x);
  let by = bitcast<u32>(y);
  let ax = abs(x);
  let ay = by & 0x7fffffffu;
  let odd = kiln_odd_integer(y);
  let neg = (bx & 0x80000000u) != 0u;
  let flip = neg && odd;
  // The magnitude |x|^y for finite non-zero |x| and finite y.
  var m = kiln_pow_finite(ax, y);
  // |x| == 0 or Inf: 0 or Inf by the signs of y and of log|x|.
  let ax_bits = bx & 0x7fffffffu;
  let zero_or_inf = ax_bits == 0u || ax_bits == 0x7f800000u;
  let tiny = (ax_bits == 0u) == (y > 0.0f);
  m = select(m, select(kiln_inf(), 0.0f, tiny), zero_or_inf);
  // y == +-Inf: Inf or 0 by whether |x| > 1; NaN when |x| == 1 (as JavaScript).
  m = select(m, select(select(0.0f, kiln_inf(), (ax > 1.0f) == (y > 0.0f)), kiln_nan(), ax == 1.0f), ay == 0x7f800000u);
  let signed = select(m, -m, flip);
  // A negative finite base needs an integer exponent.
  let bad = neg && ax_bits != 0u && ax_bits < 0x7f800000u && ay < 0x7f800000u && floor(y) != y;
  let v = select(signed, kiln_nan(), bad || kiln_isnan(x) || kiln_isnan(y));
  return select(v, 1.0f, ay == 0u);
}
