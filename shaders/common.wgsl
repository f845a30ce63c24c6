// Helpers every Kiln kernel may use. Included once per kernel by the preprocessor.
//
// KILN_GRID is the kernel's logical workgroup grid: a constant emitted by kernel.ts, or a
// uniform for kernels whose shapes are uniforms. A grid with more than
// maxComputeWorkgroupsPerDimension workgroups in a dimension is dispatched folded into
// 2-D/3-D; kiln_wg rebuilds the logical id from all of workgroup_id. Padding workgroups of a
// folded dispatch get z >= grid.z: kernels return early.

fn kiln_wg(wid: vec3u, nwg: vec3u, grid: vec3u) -> vec3u {
  let linear = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
  return vec3u(linear % grid.x, (linear / grid.x) % grid.y, linear / (grid.x * grid.y));
}

// WGSL has no NaN/Inf literals, and a constant expression may not evaluate to one: build
// them from run-time bit patterns.
fn kiln_nan() -> f32 {
  var bits = 0x7fc00000u;
  return bitcast<f32>(bits);
}

fn kiln_inf() -> f32 {
  var bits = 0x7f800000u;
  return bitcast<f32>(bits);
}

// By bit pattern: compilers may assume x == x.
fn kiln_isnan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// PCG-RXS-M-XS 32-bit hash (core's rng.ts pcgHash).
fn kiln_pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// f32 -> i32 as core's toDType: truncate, wrap modulo 2^32, NaN and +-Inf -> 0
// (WGSL's i32(x) saturates instead).
fn kiln_f2i(x: f32) -> i32 {
  if (kiln_isnan(x) || abs(x) > 3.4028234663852886e38) {
    return 0i;
  }
  let t = trunc(x);
  if (abs(t) < 2147483648.0) {
    return i32(t);
  }
  let m = t - floor(t / 4294967296.0) * 4294967296.0;
  return bitcast<i32>(u32(m));
}

#include "ieee.wgsl"
