/**
 * Pausing a task type (`baton pause TYPE`, `POST /types/{name}/pause`): claims of the type
 * stop, its running tasks go on. What every surface validates a type name with.
 */
import { z } from 'zod';

export const typeNameSchema = z
  .string()
  .min(1, 'expected a task type')
  .max(200, 'expected a task type of at most 200 characters');
