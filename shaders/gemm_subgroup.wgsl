// GEMM for adapters with a fixed subgroup size S that run subgroups as SIMD lanes of a CPU
// (lavapipe): there every load from memory is a per-lane loop, and workgroup barriers are
// coroutine switches, while a subgroup broadcast is one register shuffle. So no workgroup
// memory: each invocation keeps a U x (4 * VN) block of C in registers, all invocations of a
// workgroup share the same U rows, the A values of those rows are loaded cooperatively (lane l
// loads k0 + l) and broadcast, and B is read as vec4 rows where the layout allows.
//
// LOADERS (kernels/gemm.ts) define, for batch b:
//   load_a(b, m, k) -> f32          m < M, k < K
//   load_b4(b, k, n4) -> vec4f      columns 4 n4 .. 4 n4 + 3 (clamped into range), k < K
//   store_c4(b, m, n4, v: vec4f)    m < M; stores only the columns < N
enable subgroups;
#include "common.wgsl"

{{BINDINGS}}

{{LOADERS}}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let g = kiln_wg(wid, nwg);
  if (g.z >= GRID_Z) {
    return;
  }
  let b = g.z;
  let m0 = g.y * {{U}}u;
  let n4 = (g.x * {{WG}}u + li) * {{VN}}u;
#for r in 0..U
  let mr{{r}} = min(m0 + {{r}}u, {{M}}u - 1u);
#endfor
#for v in 0..VN
  let nc{{v}} = min(n4 + {{v}}u, {{N4}}u - 1u);
#endfor
#for r in 0..U
#for v in 0..VN
  var c{{r}}_{{v}} = vec4f(0.0);
#endfor
#endfor
  for (var k0 = 0u; k0 < {{KFULL}}u; k0 += {{S}}u) {
#for r in 0..U
    let a{{r}} = load_a(b, mr{{r}}, k0 + lane);
#endfor
#for kk in 0..S
#for v in 0..VN
    let b{{kk}}_{{v}} = load_b4(b, k0 + {{kk}}u, nc{{v}});
#endfor
#for r in 0..U
    {
      let a = vec4f(subgroupBroadcast(a{{r}}, {{kk}}u));
#for v in 0..VN
      c{{r}}_{{v}} = fma(a, b{{kk}}_{{v}}, c{{r}}_{{v}});
#endfor
    }
#endfor
#endfor
  }
#if KT > 0
  {
    // The last K % S steps: lanes past K load a clamped (unused) element.
    let k0 = {{KFULL}}u;
    let ka = min(k0 + lane, {{K}}u - 1u);
#for r in 0..U
    let a{{r}} = load_a(b, mr{{r}}, ka);
#endfor
#for kk in 0..KT
#for v in 0..VN
    let b{{kk}}_{{v}} = load_b4(b, k0 + {{kk}}u, nc{{v}});
#endfor
#for r in 0..U
    {
      let a = vec4f(subgroupBroadcast(a{{r}}, {{kk}}u));
#for v in 0..VN
      c{{r}}_{{v}} = fma(a, b{{kk}}_{{v}}, c{{r}}_{{v}});
#endfor
    }
#endfor
#endfor
  }
#endif
#for r in 0..U
  if (m0 + {{r}}u < {{M}}u) {
#for v in 0..VN
    if (n4 + {{v}}u < {{N4}}u) {
      store_c4(b, m0 + {{r}}u, n4 + {{v}}u, c{{r}}_{{v}});
    }
#endfor
  }
#endfor
}
