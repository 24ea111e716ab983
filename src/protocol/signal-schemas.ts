/** The signal route's request and response shapes (`POST /runs/{id}/signals/{name}`). */
import { z } from 'zod';
import { signalDataSchema, signalNameSchema } from '../core/waits.js';
import { idSchema } from './schemas.js';

export const signalParams = z.strictObject({ id: idSchema, name: signalNameSchema });

export const signalBody = z
  .strictObject({
    /** Handed to every wait the signal opens (a gate's output). Default null. */
    data: signalDataSchema.optional(),
  })
  .optional();

export const signalResultSchema = z
  .object({
    runId: z.string(),
    name: z.string(),
    /** Ids of the tasks that waited for the signal and were opened by it. */
    opened: z.array(z.string()),
  })
  .meta({ id: 'SignalResult' });

export type SignalResultJson = z.output<typeof signalResultSchema>;
