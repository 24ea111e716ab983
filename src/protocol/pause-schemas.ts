/**
 * The HTTP shapes of paused types: the path parameter naming a type, the answer to a pause or
 * an unpause, and the list of paused types. Instants are ISO 8601 on the wire, ms in code.
 */
import { z } from 'zod';
import { typeNameSchema } from '../core/pauses.js';
import { instantMs } from './instant.js';

export const typeParams = z.strictObject({ name: typeNameSchema });

/** After `pause` or `unpause`: whether the type is paused now, and whether this call changed it. */
export const typePauseSchema = z
  .object({ type: z.string(), paused: z.boolean(), changed: z.boolean() })
  .meta({ id: 'TypePause' });

export const pausedTypeSchema = z
  .object({ type: z.string(), pausedAt: instantMs })
  .meta({ id: 'PausedType' });

export const pausedTypeListSchema = z.object({ types: z.array(pausedTypeSchema) });

export type TypePauseJson = z.output<typeof typePauseSchema>;
export type PausedTypeJson = z.output<typeof pausedTypeSchema>;
