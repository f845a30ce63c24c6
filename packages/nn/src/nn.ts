/** The `nn` namespace users see: layers, losses and metrics (`nn.dense`, `nn.mse`, `nn.accuracy`). */
export * from './layers';
export * from './losses';
export * from './metrics';
export * from './sampling';
