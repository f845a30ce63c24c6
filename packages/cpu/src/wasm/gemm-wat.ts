/**
 * The WebAssembly text of the CPU backend's GEMM, one source for every variant. Assembled by
 * `scripts/gen-wasm.ts` (wabt) into `gemm.gen.ts`; test/cpu/wasm-gen.test.ts fails when that
 * file is stale. Nothing here runs in a page: only the bytes in gemm.gen.ts are loaded.
 *
 * The module computes C[M,N] = A[M,K] . B[K,N] (+ C when beta) with any element strides for A
 * and B (so transposed operands need no separate pass), BLIS style:
 *
 *   for jc in N by NC:                      B block [KC x NC] packed once per (jc, pc), in L2/L3
 *     for pc in K by KC:                    (later K blocks accumulate into C)
 *       packB -> panels of NR columns, [kc][NR] each, zero padded past N
 *       for ic in M by MC:
 *         packA -> panels of MR rows, [kc][MR] each, zero padded past M   (L2)
 *         for jr in nc by NR, ir in mc by MR:
 *           kernel: an MR x NR tile held in MR*NR/4 f32x4 accumulators over kc steps; per step
 *           NR/4 vector loads of B, MR splat loads of A, MR*NR/4 multiply-adds (one
 *           f32x4.relaxed_madd where the runtime has relaxed SIMD, mul + add otherwise).
 *
 * Tiles past M or N run the same kernel on a scratch tile and copy the valid part, so sizes
 * that are not tile multiples cost a copy, not a second kernel. Accumulation is f32 (rounded
 * per multiply-add, as on a GPU); NaN and Inf propagate as IEEE says (padding is 0 and only
 * ever meets discarded lanes).
 *
 * Scratch (per caller, so threads each bring their own): packed A, packed B, the edge tile.
 */

export interface GemmWatOptions {
  /** Rows and columns of the register tile (NR a multiple of 4). */
  readonly mr: number;
  readonly nr: number;
  /** Cache blocks: rows of A, depth, columns of B per packed block. */
  readonly mc: number;
  readonly kc: number;
  readonly nc: number;
  /** f32x4.relaxed_madd instead of mul + add. */
  readonly relaxed: boolean;
  /** Import the memory as shared (threads). */
  readonly shared: boolean;
}

/** The tile and blocks measured best on the reference machine (packages/cpu/scripts/README.md). */
export const GEMM_BLOCKING = { mr: 4, nr: 8, mc: 64, kc: 512, nc: 1024 } as const;

/** Bytes of scratch one caller of `gemm` needs. */
export function gemmScratchBytes(o: Pick<GemmWatOptions, 'mr' | 'nr' | 'mc' | 'kc' | 'nc'> = GEMM_BLOCKING): number {
  return 4 * (o.mc * o.kc + o.kc * o.nc + o.mr * o.nr);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** The microkernel: tile (MR x NR) of C at $c (row stride $ldc bytes) from packed panels. */
function kernel(o: GemmWatOptions): string {
  const { mr, nr } = o;
  const nv = nr / 4;
  const acc = (r: number, v: number) => `$c${r}_${v}`;
  const madd = (a: string, b: string, c: string) => (o.relaxed ? `(f32x4.relaxed_madd ${a} ${b} ${c})` : `(f32x4.add ${c} (f32x4.mul ${a} ${b}))`);
  const locals = [
    ...range(mr).flatMap((r) => range(nv).map((v) => `(local ${acc(r, v)} v128)`)),
    ...range(nv).map((v) => `(local $b${v} v128)`),
    '(local $a v128) (local $end i32) (local $p i32)',
  ];
  const step = [
    ...range(nv).map((v) => `(local.set $b${v} (v128.load offset=${16 * v} (local.get $pb)))`),
    ...range(mr).flatMap((r) => [
      `(local.set $a (v128.load32_splat offset=${4 * r} (local.get $pa)))`,
      ...range(nv).map((v) => `(local.set ${acc(r, v)} ${madd('(local.get $a)', `(local.get $b${v})`, `(local.get ${acc(r, v)})`)})`),
    ]),
  ];
  const store = range(mr).flatMap((r) => [
    `(local.set $p ${r === 0 ? '(local.get $c)' : `(i32.add (local.get $p) (local.get $ldc))`})`,
    ...range(nv).map((v) => `(if (local.get $beta) (then (local.set ${acc(r, v)} (f32x4.add (local.get ${acc(r, v)}) (v128.load offset=${16 * v} (local.get $p))))))`),
    ...range(nv).map((v) => `(v128.store offset=${16 * v} (local.get $p) (local.get ${acc(r, v)}))`),
  ]);
  return `
  ;; C tile (+)= packed A panel [kc][${mr}] . packed B panel [kc][${nr}]; kc >= 1
  (func $kernel (param $pa i32) (param $pb i32) (param $kc i32) (param $c i32) (param $ldc i32) (param $beta i32)
    ${locals.join('\n    ')}
    (local.set $end (i32.add (local.get $pa) (i32.mul (local.get $kc) (i32.const ${4 * mr}))))
    (loop $k
      ${step.join('\n      ')}
      (local.set $pa (i32.add (local.get $pa) (i32.const ${4 * mr})))
      (local.set $pb (i32.add (local.get $pb) (i32.const ${4 * nr})))
      (br_if $k (i32.lt_u (local.get $pa) (local.get $end))))
    ${store.join('\n    ')})`;
}

/**
 * Pack a block of rows x cols (strides in bytes) into panels of `w` along cols, each [rows][w]
 * and zero padded: B (rows = k, panels of NR columns) and A read transposed (rows = k, panels
 * of MR rows of A). A full panel with unit column stride copies whole vectors.
 */
function pack(name: string, w: number): string {
  const vec = w % 4 === 0;
  return `
  ;; dst[panel][r][0..${w}) = src[r*rs + (panel*${w} + j)*cs], 0 past cols
  (func ${name} (param $src i32) (param $rs i32) (param $cs i32) (param $rows i32) (param $cols i32) (param $dst i32)
    (local $j0 i32) (local $r i32) (local $j i32) (local $w i32) (local $s i32) (local $row i32)
    (block $done (loop $panels
      (br_if $done (i32.ge_s (local.get $j0) (local.get $cols)))
      (local.set $w (i32.sub (local.get $cols) (local.get $j0)))
      (local.set $row (i32.add (local.get $src) (i32.mul (local.get $j0) (local.get $cs))))
      (local.set $r (i32.const 0))
      ${vec ? `(if (i32.and (i32.ge_s (local.get $w) (i32.const ${w})) (i32.eq (local.get $cs) (i32.const 4)))
        (then (loop $rowsv
          ${range(w / 4).map((v) => `(v128.store offset=${16 * v} (local.get $dst) (v128.load offset=${16 * v} (local.get $row)))`).join('\n          ')}
          (local.set $dst (i32.add (local.get $dst) (i32.const ${4 * w})))
          (local.set $row (i32.add (local.get $row) (local.get $rs)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br_if $rowsv (i32.lt_s (local.get $r) (local.get $rows)))))
        (else` : '(block'}
        (loop $rows
          (local.set $s (local.get $row))
          (local.set $j (i32.const 0))
          (loop $cols
            (if (i32.lt_s (local.get $j) (local.get $w))
              (then (f32.store (local.get $dst) (f32.load (local.get $s))))
              (else (f32.store (local.get $dst) (f32.const 0))))
            (local.set $s (i32.add (local.get $s) (local.get $cs)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_if $cols (i32.lt_s (local.get $j) (i32.const ${w}))))
          (local.set $row (i32.add (local.get $row) (local.get $rs)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br_if $rows (i32.lt_s (local.get $r) (local.get $rows))))${vec ? '))' : ')'}
      (local.set $j0 (i32.add (local.get $j0) (i32.const ${w})))
      (br $panels))))`;
}

function gemm(o: GemmWatOptions): string {
  const { mr, nr, mc, kc, nc } = o;
  const packA = 0, packB = 4 * mc * kc, tile = packB + 4 * kc * nc;
  return `
  ;; C[M,N] (+)= A[M,K] . B[K,N]; strides in elements, pointers in bytes; K >= 1
  (func (export "gemm") (param $M i32) (param $N i32) (param $K i32)
      (param $a i32) (param $rsa i32) (param $csa i32) (param $b i32) (param $rsb i32) (param $csb i32)
      (param $c i32) (param $ldc i32) (param $beta i32) (param $scratch i32)
    (local $jc i32) (local $pc i32) (local $ic i32) (local $jr i32) (local $ir i32)
    (local $ncb i32) (local $kcb i32) (local $mcb i32) (local $h i32) (local $w i32) (local $bt i32)
    (local $pa i32) (local $pb i32) (local $tile i32) (local $cp i32) (local $r i32) (local $j i32)
    (local.set $rsa (i32.shl (local.get $rsa) (i32.const 2))) (local.set $csa (i32.shl (local.get $csa) (i32.const 2)))
    (local.set $rsb (i32.shl (local.get $rsb) (i32.const 2))) (local.set $csb (i32.shl (local.get $csb) (i32.const 2)))
    (local.set $ldc (i32.shl (local.get $ldc) (i32.const 2)))
    (local.set $pa (i32.add (local.get $scratch) (i32.const ${packA})))
    (local.set $pb (i32.add (local.get $scratch) (i32.const ${packB})))
    (local.set $tile (i32.add (local.get $scratch) (i32.const ${tile})))
    (local.set $jc (i32.const 0))
    (loop $jcl
      (local.set $ncb (select (i32.const ${nc}) (i32.sub (local.get $N) (local.get $jc)) (i32.gt_s (i32.sub (local.get $N) (local.get $jc)) (i32.const ${nc}))))
      (local.set $pc (i32.const 0))
      (loop $pcl
        (local.set $kcb (select (i32.const ${kc}) (i32.sub (local.get $K) (local.get $pc)) (i32.gt_s (i32.sub (local.get $K) (local.get $pc)) (i32.const ${kc}))))
        (local.set $bt (select (i32.const 1) (local.get $beta) (local.get $pc)))
        (call $packB (i32.add (local.get $b) (i32.add (i32.mul (local.get $pc) (local.get $rsb)) (i32.mul (local.get $jc) (local.get $csb))))
          (local.get $rsb) (local.get $csb) (local.get $kcb) (local.get $ncb) (local.get $pb))
        (local.set $ic (i32.const 0))
        (loop $icl
          (local.set $mcb (select (i32.const ${mc}) (i32.sub (local.get $M) (local.get $ic)) (i32.gt_s (i32.sub (local.get $M) (local.get $ic)) (i32.const ${mc}))))
          ;; A block [mcb x kcb] read as k-rows of a transposed matrix: rs = csa, cs = rsa
          (call $packA (i32.add (local.get $a) (i32.add (i32.mul (local.get $ic) (local.get $rsa)) (i32.mul (local.get $pc) (local.get $csa))))
            (local.get $csa) (local.get $rsa) (local.get $kcb) (local.get $mcb) (local.get $pa))
          (local.set $jr (i32.const 0))
          (loop $jrl
            (local.set $w (select (i32.const ${nr}) (i32.sub (local.get $ncb) (local.get $jr)) (i32.gt_s (i32.sub (local.get $ncb) (local.get $jr)) (i32.const ${nr}))))
            (local.set $ir (i32.const 0))
            (loop $irl
              (local.set $h (select (i32.const ${mr}) (i32.sub (local.get $mcb) (local.get $ir)) (i32.gt_s (i32.sub (local.get $mcb) (local.get $ir)) (i32.const ${mr}))))
              (local.set $cp (i32.add (local.get $c) (i32.add
                (i32.mul (i32.add (local.get $ic) (local.get $ir)) (local.get $ldc))
                (i32.shl (i32.add (local.get $jc) (local.get $jr)) (i32.const 2)))))
              (if (i32.and (i32.eq (local.get $h) (i32.const ${mr})) (i32.eq (local.get $w) (i32.const ${nr})))
                (then
                  (call $kernel (i32.add (local.get $pa) (i32.mul (local.get $ir) (i32.shl (local.get $kcb) (i32.const 2))))
                    (i32.add (local.get $pb) (i32.mul (local.get $jr) (i32.shl (local.get $kcb) (i32.const 2))))
                    (local.get $kcb) (local.get $cp) (local.get $ldc) (local.get $bt)))
                (else
                  ;; edge tile: through the scratch tile (row stride ${4 * nr} bytes), valid part only
                  (if (local.get $bt) (then
                    (local.set $r (i32.const 0))
                    (loop $in (local.set $j (i32.const 0))
                      (loop $inj
                        (f32.store (i32.add (local.get $tile) (i32.shl (i32.add (i32.mul (local.get $r) (i32.const ${nr})) (local.get $j)) (i32.const 2)))
                          (f32.load (i32.add (local.get $cp) (i32.add (i32.mul (local.get $r) (local.get $ldc)) (i32.shl (local.get $j) (i32.const 2))))))
                        (local.set $j (i32.add (local.get $j) (i32.const 1)))
                        (br_if $inj (i32.lt_s (local.get $j) (local.get $w))))
                      (local.set $r (i32.add (local.get $r) (i32.const 1)))
                      (br_if $in (i32.lt_s (local.get $r) (local.get $h))))))
                  (call $kernel (i32.add (local.get $pa) (i32.mul (local.get $ir) (i32.shl (local.get $kcb) (i32.const 2))))
                    (i32.add (local.get $pb) (i32.mul (local.get $jr) (i32.shl (local.get $kcb) (i32.const 2))))
                    (local.get $kcb) (local.get $tile) (i32.const ${4 * nr}) (local.get $bt))
                  (local.set $r (i32.const 0))
                  (loop $out (local.set $j (i32.const 0))
                    (loop $outj
                      (f32.store (i32.add (local.get $cp) (i32.add (i32.mul (local.get $r) (local.get $ldc)) (i32.shl (local.get $j) (i32.const 2))))
                        (f32.load (i32.add (local.get $tile) (i32.shl (i32.add (i32.mul (local.get $r) (i32.const ${nr})) (local.get $j)) (i32.const 2)))))
                      (local.set $j (i32.add (local.get $j) (i32.const 1)))
                      (br_if $outj (i32.lt_s (local.get $j) (local.get $w))))
                    (local.set $r (i32.add (local.get $r) (i32.const 1)))
                    (br_if $out (i32.lt_s (local.get $r) (local.get $h))))))
              (local.set $ir (i32.add (local.get $ir) (i32.const ${mr})))
              (br_if $irl (i32.lt_s (local.get $ir) (local.get $mcb))))
            (local.set $jr (i32.add (local.get $jr) (i32.const ${nr})))
            (br_if $jrl (i32.lt_s (local.get $jr) (local.get $ncb))))
          (local.set $ic (i32.add (local.get $ic) (i32.const ${mc})))
          (br_if $icl (i32.lt_s (local.get $ic) (local.get $M))))
        (local.set $pc (i32.add (local.get $pc) (i32.const ${kc})))
        (br_if $pcl (i32.lt_s (local.get $pc) (local.get $K))))
      (local.set $jc (i32.add (local.get $jc) (i32.const ${nc})))
      (br_if $jcl (i32.lt_s (local.get $jc) (local.get $N)))))`;
}

/**
 * im2col for NCHW images: dst[(c*KH+ky)*KW+kx][nn*P + oy*OW + ox] = x[nn, c0+c, iy, ix], 0 where
 * (iy, ix) falls in the padding (P = OH*OW, rows cnt*P wide). x points at the first image of
 * the chunk. Columns outside the row read a neighbour (or slack the engine keeps after the
 * images) and `select` zeroes them; rows outside the image are zero-filled whole.
 * With `col2im`, its adjoint: x[nn, c0+c, iy, ix] += dst[...] for the (iy, ix) inside the image.
 */
function im2col(col2im: boolean): string {
  const g = (n: string) => `(local.get $${n})`;
  return `
  (func (export "${col2im ? 'col2im' : 'im2col'}") (param $x i32) (param $C i32) (param $H i32) (param $W i32) (param $OH i32) (param $OW i32)
      (param $Cg i32) (param $KH i32) (param $KW i32) (param $sh i32) (param $sw i32) (param $pt i32) (param $pl i32)
      (param $dh i32) (param $dw i32) (param $cnt i32) (param $c0 i32) (param $dst i32)
    (local $c i32) (local $ky i32) (local $kx i32) (local $nn i32) (local $oy i32) (local $ox i32)
    (local $iy i32) (local $ix i32) (local $img i32) (local $src i32) (local $end i32) (local $swb i32)
    (local.set $swb (i32.shl ${g('sw')} (i32.const 2)))
    (loop $cl (local.set $ky (i32.const 0))
     (loop $kyl (local.set $kx (i32.const 0))
      (loop $kxl (local.set $nn (i32.const 0))
       (loop $nnl
        (local.set $img (i32.add ${g('x')} (i32.shl (i32.mul (i32.add (i32.mul ${g('nn')} ${g('C')}) (i32.add ${g('c0')} ${g('c')})) (i32.mul ${g('H')} ${g('W')})) (i32.const 2))))
        (local.set $oy (i32.const 0))
        (loop $oyl
          (local.set $iy (i32.add (i32.sub (i32.mul ${g('oy')} ${g('sh')}) ${g('pt')}) (i32.mul ${g('ky')} ${g('dh')})))
          (local.set $end (i32.add ${g('dst')} (i32.shl ${g('OW')} (i32.const 2))))
          (if (i32.lt_u ${g('iy')} ${g('H')})
            (then
              (local.set $ix (i32.sub (i32.mul ${g('kx')} ${g('dw')}) ${g('pl')}))
              (local.set $src (i32.add ${g('img')} (i32.shl (i32.add (i32.mul ${g('iy')} ${g('W')}) ${g('ix')}) (i32.const 2))))
              (loop $oxl
                ${col2im
                  ? `(if (i32.lt_u ${g('ix')} ${g('W')}) (then (f32.store ${g('src')} (f32.add (f32.load ${g('src')}) (f32.load ${g('dst')})))))`
                  : `(f32.store ${g('dst')} (select (f32.load ${g('src')}) (f32.const 0) (i32.lt_u ${g('ix')} ${g('W')})))`}
                (local.set $ix (i32.add ${g('ix')} ${g('sw')}))
                (local.set $src (i32.add ${g('src')} ${g('swb')}))
                (local.set $dst (i32.add ${g('dst')} (i32.const 4)))
                (br_if $oxl (i32.lt_u ${g('dst')} ${g('end')}))))
            (else
              ${col2im ? `(local.set $dst ${g('end')})` : `(loop $zl
                (f32.store ${g('dst')} (f32.const 0))
                (local.set $dst (i32.add ${g('dst')} (i32.const 4)))
                (br_if $zl (i32.lt_u ${g('dst')} ${g('end')})))`}))
          (local.set $oy (i32.add ${g('oy')} (i32.const 1)))
          (br_if $oyl (i32.lt_s ${g('oy')} ${g('OH')})))
        (local.set $nn (i32.add ${g('nn')} (i32.const 1)))
        (br_if $nnl (i32.lt_s ${g('nn')} ${g('cnt')})))
      (local.set $kx (i32.add ${g('kx')} (i32.const 1)))
      (br_if $kxl (i32.lt_s ${g('kx')} ${g('KW')})))
     (local.set $ky (i32.add ${g('ky')} (i32.const 1)))
     (br_if $kyl (i32.lt_s ${g('ky')} ${g('KH')})))
    (local.set $c (i32.add ${g('c')} (i32.const 1)))
    (br_if $cl (i32.lt_s ${g('c')} ${g('Cg')}))))`;
}

/** The module's text for one variant. */
export function gemmWat(o: GemmWatOptions): string {
  if (o.nr % 4 !== 0 || o.mc % o.mr !== 0 || o.nc % o.nr !== 0) throw new RangeError(`gemmWat: tile ${o.mr}x${o.nr} must divide blocks ${o.mc}x${o.nc} (NR a multiple of 4)`);
  return `(module
  (memory (import "env" "memory") 1 ${MAX_PAGES}${o.shared ? ' shared' : ''})
  ${kernel(o)}
  ${pack('$packB', o.nr)}
  ${pack('$packA', o.mr)}
  ${gemm(o)}
  ${im2col(false)}
  ${im2col(true)})
`;
}

/** Most pages the memory may grow to (2 GiB: byte offsets stay positive i32). */
export const MAX_PAGES = 32768;
