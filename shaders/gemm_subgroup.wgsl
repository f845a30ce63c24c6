// GEMM for adapters with a fixed subgroup size S that run subgroups as SIMD lanes of a CPU
// (lavapipe). There every load from memory is a per-lane loop and a workgroup barrier is a
// coroutine switch, while a subgroup shuffle is a register permutation. So: no workgroup
// memory and no barriers; each invocation keeps a U x (4 VN) block of C in registers; all
// invocations of a workgroup share the same U rows, whose A values are loaded cooperatively
// (lane l loads element k0 + l) and handed round by subgroupShuffle; B is read as vec4 rows
// where the layout allows. Shapes are uniforms, so one pipeline serves every shape.
//
// The LOADERS define, for batch b (dims.p holds the loaders' own parameters):
//   load_a(b, m, k) -> f32          m < M, k < K
//   load_a4(b, m, k4) -> vec4f      A[m][4 k4 .. 4 k4 + 3] (only with A4: row-major A, K % 4 == 0)
//   load_b4(b, k, n4) -> vec4f      columns 4 n4 .. 4 n4 + 3 (clamped into range), k < K
//   store_c4(b, m, n4, v: vec4f)    m < M; stores only the columns < N
enable subgroups;
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

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let g = kiln_wg(wid, nwg, kiln_grid());
  if (g.z >= dims.grid.z) {
    return;
  }
  let b = g.z;
  let m0 = g.y * {{U}}u;
  let n4 = (g.x * {{WG}}u + li) * {{VN}}u;
#if A4 == 0
#for r in 0..U
  let mr{{r}} = min(m0 + {{r}}u, dims.m - 1u);
#endfor
#endif
#for v in 0..VN
  let nc{{v}} = min(n4 + {{v}}u, dims.n4 - 1u);
#endfor
#for r in 0..U
#for v in 0..VN
  var c{{r}}_{{v}} = vec4f(0.0);
#endfor
#endfor
#if A4
  // A as vec4 rows: each load gives the invocations of a subgroup 4 rows x 8 k (lane l holds row
  // 4i + l / 2, k0 + 4 (l % 2) .. + 3 of load i), a quarter of the loads of the scalar path.
  for (var k0 = 0u; k0 < dims.k; k0 += 8u) {
    let ka4 = min(k0 / 4u + (lane & 1u), dims.k / 4u - 1u);
#for i in 0..U / (S / 2)
    let av{{i}} = load_a4(b, min(m0 + {{i * (S / 2)}}u + lane / 2u, dims.m - 1u), ka4);
#endfor
    let steps = min(8u, dims.k - k0);
    for (var kk = 0u; kk < steps; kk++) {
#for v in 0..VN
      let b{{v}} = load_b4(b, k0 + kk, nc{{v}});
#endfor
#for i in 0..U / (S / 2)
      let x{{i}} = av{{i}}[kk & 3u];
#endfor
#for r in 0..U
      {
        let a = vec4f(subgroupShuffle(x{{r / (S / 2)}}, {{(r % (S / 2)) * 2}}u + (kk >> 2u)));
#for v in 0..VN
        c{{r}}_{{v}} = fma(a, b{{v}}, c{{r}}_{{v}});
#endfor
      }
#endfor
    }
  }
#else
  for (var k0 = 0u; k0 < dims.k; k0 += {{S}}u) {
    // Lanes past K load a clamped element that no step uses.
    let ka = min(k0 + lane, dims.k - 1u);
#for r in 0..U
    let a{{r}} = load_a(b, mr{{r}}, ka);
#endfor
    let steps = min({{S}}u, dims.k - k0);
    for (var kk = 0u; kk < steps; kk++) {
#for v in 0..VN
      let b{{v}} = load_b4(b, k0 + kk, nc{{v}});
#endfor
#for r in 0..U
      {
        let a = vec4f(subgroupShuffle(a{{r}}, kk));
#for v in 0..VN
        c{{r}}_{{v}} = fma(a, b{{v}}, c{{r}}_{{v}});
#endfor
      }
#endfor
    }
  }
#endif
  // NOTE: one store per column vector, in a loop over rows that picks the row's accumulator
  // with selects: every store is a per-lane loop on lavapipe, and unrolling U x VN of them
  // made one pipeline take seconds to compile.
  for (var r = 0u; r < {{U}}u; r++) {
    if (m0 + r < dims.m) {
#for v in 0..VN
      var o{{v}} = c0_{{v}};
#for q in 1..U
      o{{v}} = select(o{{v}}, c{{q}}_{{v}}, r == {{q}}u);
#endfor
      if (n4 + {{v}}u < dims.n4) {
        store_c4(b, m0 + r, n4 + {{v}}u, o{{v}});
      }
#endfor
    }
  }
}
