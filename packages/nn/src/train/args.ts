/**
 * Argument checks for the training functions that take a Model. They live beside the Model
 * (not in ../args.ts) because the layers import ../args.ts and model.ts imports the layers:
 * keeping them here leaves @kiln/nn without an import cycle (test/core/imports.test.ts).
 */
import { args, Executable } from '@kiln/core';
import { z } from 'zod';
import { arg } from '../args';
import { Model } from './model';

/** A Model built by `buildModel`. */
export const modelArg: args.Arg = arg('model', 'a Model (from buildModel)', { value: z.instanceof(Model) });
/** A Model or a compiled Executable (checkpoint functions accept both). */
export const targetArg: args.Arg = arg('target', 'a Model or an Executable', { value: z.custom((v) => v instanceof Model || v instanceof Executable) });
