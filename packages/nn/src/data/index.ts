/**
 * Data for training, all host-side typed arrays, no backend needed.
 *
 *   const { train, test } = await loadMnist({ dir: resolveMnistDir(import.meta.url) });
 *   const ds = createDataset({ x: train.images, y: train.labels, xShape: [784] });
 *   const { train: tr, validation } = trainValidationSplit(ds, { validationFraction: 0.1, seed: 1 });
 *   for (const { x, y, size } of batches(tr, { batchSize: 128, shuffle: true, seed: 1, epoch })) ...
 *
 * Readers: `parseIdx`/`readIdxFile` (MNIST's IDX), `parseCifar10`/`readCifar10File`.
 * Transforms: `scale`, `normalize`, `fitStandardizer`, `oneHot`; augmentations (seeded, per
 * epoch): `augment(ds, [randomCrop({ padding: 4 }), randomHorizontalFlip()], { seed, epoch })`.
 * A malformed file or inconsistent arrays raise `DataFormatError`; a missing or wrong-typed
 * argument raises `OptionsError` (naming the function and the argument); a bad value `RangeError`.
 */
export * from './errors';
export * from './idx';
export * from './cifar';
export * from './mnist';
export * from './transforms';
export * from './dataset';
export * from './text';
