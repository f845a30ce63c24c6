// Movement kernels (transpose, broadcastTo, slice, pad, concat, gather, scatterAdd). Except
// for scatterAdd they copy 32-bit words whatever the dtype (bool is stored as u32 0/1).
// One invocation per element of a domain of N elements; the INDEX define is index code made
// by kernels/movement.ts.
#include "common.wgsl"

#if STRIDED
@group(0) @binding(0) var<storage, read_write> y: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<u32>;
// x: the source's start word, y: the destination's. Uniforms, not constants, so that the
// slices of an unrolled loop (one per time step, at T offsets) share one pipeline.
@group(0) @binding(2) var<uniform> offsets: vec4u;

// The domain is the output (views: transpose, broadcastTo, slice, pad) or one input (concat).
// INDEX defines `src` (input word), `dst` (output word) and `inside` (false in padding).
@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = kiln_wg(wid, nwg, KILN_GRID);
  let idx = g.x * {{WG}}u + lid;
  if (g.z >= KILN_GRID.z || idx >= {{N}}u) {
    return;
  }
  {{INDEX}}
  if (inside) {
    y[dst] = x[u32(src)];
  } else {
    y[dst] = {{PAD}}u;
  }
}
#endif

#if GATHER
@group(0) @binding(0) var<storage, read_write> y: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> indices: array<i32>;

// y[o, j, i] = x[o, indices[j], i]; an index out of [0, LEN) reads 0 (core's gather).
@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = kiln_wg(wid, nwg, KILN_GRID);
  let idx = g.x * {{WG}}u + lid;
  if (g.z >= KILN_GRID.z || idx >= {{N}}u) {
    return;
  }
  let i = idx % {{INNER}}u;
  let j = (idx / {{INNER}}u) % {{K}}u;
  let o = idx / ({{INNER}}u * {{K}}u);
  let src = indices[j];
  if (src >= 0i && src < {{LEN}}i) {
    y[idx] = x[(o * {{LEN}}u + u32(src)) * {{INNER}}u + i];
  } else {
    y[idx] = 0u;
  }
}
#endif

#if SCATTER_LOOP
@group(0) @binding(0) var<storage, read_write> y: array<{{T}}>;
@group(0) @binding(1) var<storage, read> u: array<{{T}}>;
@group(0) @binding(2) var<storage, read> indices: array<i32>;

// y[o, d, i] = sum over j with indices[j] == d of u[o, j, i], in order of j (deterministic,
// the reference's summation order). Used when LEN * K is small.
@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = kiln_wg(wid, nwg, KILN_GRID);
  let idx = g.x * {{WG}}u + lid;
  if (g.z >= KILN_GRID.z || idx >= {{N}}u) {
    return;
  }
  let i = idx % {{INNER}}u;
  let d = i32((idx / {{INNER}}u) % {{LEN}}u);
  let o = idx / ({{INNER}}u * {{LEN}}u);
  var acc = {{T}}(0);
  for (var j = 0u; j < {{K}}u; j++) {
    if (indices[j] == d) {
      acc += u[(o * {{K}}u + j) * {{INNER}}u + i];
    }
  }
  y[idx] = acc;
}
#endif

#if SCATTER_ATOMIC
@group(0) @binding(0) var<storage, read_write> y: array<atomic<{{AT}}>>;
@group(0) @binding(1) var<storage, read> u: array<{{T}}>;
@group(0) @binding(2) var<storage, read> indices: array<i32>;

// One invocation per update element, added into y atomically (f32 through a compare-exchange
// loop on the bits). y was zeroed by the previous dispatch. Summation order varies.
@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = kiln_wg(wid, nwg, KILN_GRID);
  let idx = g.x * {{WG}}u + lid;
  if (g.z >= KILN_GRID.z || idx >= {{N}}u) {
    return;
  }
  let i = idx % {{INNER}}u;
  let j = (idx / {{INNER}}u) % {{K}}u;
  let o = idx / ({{INNER}}u * {{K}}u);
  let d = indices[j];
  if (d < 0i || d >= {{LEN}}i) {
    return;
  }
  let at = (o * {{LEN}}u + u32(d)) * {{INNER}}u + i;
#if FLOAT
  var old = atomicLoad(&y[at]);
  loop {
    let r = atomicCompareExchangeWeak(&y[at], old, bitcast<u32>(bitcast<f32>(old) + u[idx]));
    if (r.exchanged) {
      break;
    }
    old = r.old_value;
  }
#else
  atomicAdd(&y[at], u[idx]);
#endif
}
#endif

#if FILL
@group(0) @binding(0) var<storage, read_write> y: array<u32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = kiln_wg(wid, nwg, KILN_GRID);
  let idx = g.x * {{WG}}u + lid;
  if (g.z >= KILN_GRID.z || idx >= {{N}}u) {
    return;
  }
  y[idx] = {{VALUE}}u;
}
#endif
