/** Paused task types: list, pause, unpause (docs/reference.md, Pausing a task type). */
import { emptyBody } from '../protocol/schemas.js';
import { pausedTypeListSchema, typeParams, typePauseSchema } from '../protocol/pause-schemas.js';
import { route } from './route.js';

export function pauseRoutes() {
  return [
    route({
      method: 'GET',
      path: '/types/paused',
      right: 'read',
      tag: 'types',
      summary: 'The paused task types, by name',
      response: pausedTypeListSchema,
      async handle({ deps }) {
        return { types: await deps.orchestrator.listPausedTypes() };
      },
    }),
    route({
      method: 'POST',
      path: '/types/:name/pause',
      right: 'submit',
      tag: 'types',
      summary: 'Stop the claiming of a task type; its running tasks go on',
      params: typeParams,
      body: emptyBody,
      response: typePauseSchema,
      async handle({ params, deps }) {
        const changed = await deps.orchestrator.pauseType(params.name);
        return { type: params.name, paused: true, changed };
      },
    }),
    route({
      method: 'POST',
      path: '/types/:name/unpause',
      right: 'submit',
      tag: 'types',
      summary: 'Let workers claim tasks of the type again',
      params: typeParams,
      body: emptyBody,
      response: typePauseSchema,
      async handle({ params, deps }) {
        const changed = await deps.orchestrator.unpauseType(params.name);
        deps.claims.notify();
        return { type: params.name, paused: false, changed };
      },
    }),
  ];
}
