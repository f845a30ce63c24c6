// GEMM for GPUs: each workgroup computes a TM x TN tile of C; TK-deep slices of A and B are
// staged in workgroup memory, and each invocation keeps an RM x RN block of C in registers.
// Shapes are uniforms, so one pipeline serves every shape.
//
// The LOADERS define, for batch b (dims.p holds the loaders' own parameters):
//   load_a(b, m, k) -> f32        m < M, k < K
//   load_b(b, k, n) -> f32        k < K, n < N
//   store_c(b, m, n, v: f32)      m < M, n < N
#include "common.wgsl"

struct Dims {
  grid: vec4u,
  m: u32,
  n: u32,
  k: u32,
  n4: u32,
  p: array<vec4u, 4>,
}

{{BINDINGS}}
@group(0) @binding({{UNIFORM_BINDING}}) var<uniform> dims: Dims;

// The grid is a uniform too (see common.wgsl).
fn kiln_grid() -> vec3u {
  return dims.grid.xyz;
}

{{LOADERS}}

var<workgroup> As: array<f32, {{TK * TM}}>;
var<workgroup> Bs: array<f32, {{TK * TN}}>;

@compute @workgroup_size({{TN / RN}}, {{TM / RM}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let g = kiln_wg(wid, nwg, kiln_grid());
  if (g.z >= dims.grid.z) {
    return;
  }
  let b = g.z;
  let m0 = g.y * {{TM}}u;
  let n0 = g.x * {{TN}}u;
  // Rows ty + i * (TM / RM) and columns tx + j * (TN / RN): neighbours read neighbours.
  let tx = lid.x;
  let ty = lid.y;
#for i in 0..RM
#for j in 0..RN
  var c{{i}}_{{j}} = 0.0;
#endfor
#endfor
  for (var k0 = 0u; k0 < dims.k; k0 += {{TK}}u) {
    for (var e = li; e < {{TK * TM}}u; e += {{(TN / RN) * (TM / RM)}}u) {
      let kk = e % {{TK}}u;
      let mm = e / {{TK}}u;
      let m = m0 + mm;
      let k = k0 + kk;
      var v = 0.0;
      if (m < dims.m && k < dims.k) {
        v = load_a(b, m, k);
      }
      As[kk * {{TM}}u + mm] = v;
    }
    for (var e = li; e < {{TK * TN}}u; e += {{(TN / RN) * (TM / RM)}}u) {
      let nn = e % {{TN}}u;
      let kk = e / {{TN}}u;
      let n = n0 + nn;
      let k = k0 + kk;
      var v = 0.0;
      if (n < dims.n && k < dims.k) {
        v = load_b(b, k, n);
      }
      Bs[kk * {{TN}}u + nn] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < {{TK}}u; kk++) {
#for i in 0..RM
      let a{{i}} = As[kk * {{TM}}u + ty + {{i * (TM / RM)}}u];
#endfor
#for j in 0..RN
      let b{{j}} = Bs[kk * {{TN}}u + tx + {{j * (TN / RN)}}u];
#endfor
#for i in 0..RM
#for j in 0..RN
      c{{i}}_{{j}} = fma(a{{i}}, b{{j}}, c{{i}}_{{j}});
#endfor
#endfor
    }
    workgroupBarrier();
  }
#for i in 0..RM
#for j in 0..RN
  {
    let m = m0 + ty + {{i * (TM / RM)}}u;
    let n = n0 + tx + {{j * (TN / RN)}}u;
    if (m < dims.m && n < dims.n) {
      store_c(b, m, n, c{{i}}_{{j}});
    }
  }
#endfor
#endfor
}
