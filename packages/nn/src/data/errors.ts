/**
 * A data file (IDX, CIFAR-10, MNIST directory) that is missing, malformed, truncated or
 * inconsistent. The message always starts with the file (or the name the caller gave the
 * bytes) and says what was expected where, e.g.
 * `train-images-idx3-ubyte: bad magic number 0x00000804, expected 0x00000803`.
 * A failed file-system call keeps the Node error as `cause`.
 */
export class DataFormatError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    // NOTE: set by hand, not from new.target.name, so minified bundles keep a useful name.
    this.name = 'DataFormatError';
  }
}
