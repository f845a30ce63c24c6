// Max pooling (NCHW) and its gradient. A window's maximum is its first maximum in row-major
// order, a NaN beating any number (as core's reference).
#include "common.wgsl"

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
#if GRAD
@group(0) @binding(2) var<storage, read> dy: array<f32>;
#endif

// The value stored at output i: the result itself, or core's epilogue of it (EPILOGUE holds
// the epilogue's input bindings, after the kernel's own, and apply_epilogue; kernels/fused.ts).
{{EPILOGUE}}
fn finish(v: f32, i: u32) -> f32 {
  {{FINISH}}
}

// Flat index into x of the maximum of window (oy, ox) of plane nc, or -1 if it is all padding.
fn window_argmax(nc: u32, oy: u32, ox: u32) -> i32 {
  var best = -1i;
  var bv = 0.0;
  for (var ky = 0u; ky < {{KH}}u; ky++) {
    let iy = i32(oy * {{SY}}u + ky) - {{PT}}i;
    if (iy < 0i || iy >= {{H}}i) {
      continue;
    }
    for (var kx = 0u; kx < {{KW}}u; kx++) {
      let ix = i32(ox * {{SX}}u + kx) - {{PL}}i;
      if (ix < 0i || ix >= {{W}}i) {
        continue;
      }
      let xi = i32(nc * {{H * W}}u) + iy * {{W}}i + ix;
      let v = x[xi];
      if (best < 0i || v > bv || (kiln_isnan(v) && !kiln_isnan(bv))) {
        best = xi;
        bv = v;
      }
    }
  }
  return best;
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = kiln_wg(wid, nwg, KILN_GRID);
  let idx = g.x * {{WG}}u + lid;
  if (g.z >= KILN_GRID.z || idx >= {{N}}u) {
    return;
  }
#if GRAD
  // idx is an element of x: sum dy over the windows whose maximum it is, in window order.
  let ix = idx % {{W}}u;
  let iy = (idx / {{W}}u) % {{H}}u;
  let nc = idx / {{H * W}}u;
  let y0 = max(i32(iy) + {{PT}}i - {{KH}}i + {{SY}}i, 0i) / {{SY}}i;
  let y1 = min((i32(iy) + {{PT}}i) / {{SY}}i, {{OH}}i - 1i);
  let x0 = max(i32(ix) + {{PL}}i - {{KW}}i + {{SX}}i, 0i) / {{SX}}i;
  let x1 = min((i32(ix) + {{PL}}i) / {{SX}}i, {{OW}}i - 1i);
  var acc = 0.0;
  for (var oy = y0; oy <= y1; oy++) {
    for (var ox = x0; ox <= x1; ox++) {
      if (window_argmax(nc, u32(oy), u32(ox)) == i32(idx)) {
        acc += dy[(nc * {{OH}}u + u32(oy)) * {{OW}}u + u32(ox)];
      }
    }
  }
  y[idx] = finish(acc, idx);
#else
  let ox = idx % {{OW}}u;
  let oy = (idx / {{OW}}u) % {{OH}}u;
  let nc = idx / {{OH * OW}}u;
  let best = window_argmax(nc, oy, ox);
  if (best < 0i) {
    y[idx] = finish(-kiln_inf(), idx);
  } else {
    y[idx] = finish(x[best], idx);
  }
#endif
}
