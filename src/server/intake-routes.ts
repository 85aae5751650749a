import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { AzureNotificationHubTarget } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import type { Storage, StorageProblem } from '../tracking/storage.js';
import type { TrackedMessage } from '../tracking/types.js';
import { validateIntake } from './intake-validation.js';

export interface IntakeDependencies {
  store: Storage;
  targets: readonly AzureNotificationHubTarget[];
  /** Hands newly stored messages to their hub's poll loop. */
  track: (messages: TrackedMessage[]) => void;
  /** Why the storage cannot keep what it is given now (its file was deleted or replaced, its database is unreachable), if so. */
  storageProblem: () => StorageProblem | undefined;
  now: () => number;
  firstPollDelayMilliseconds: number;
  maxRequestBodyBytes: number;
  logger: Logger;
}

/** POST /notifications (intake) and GET /notifications/{target}/{id} (lookup). */
export function intakeRoutes(dependencies: IntakeDependencies): Router {
  const router = express.Router();
  const parseJson = express.json({ limit: dependencies.maxRequestBodyBytes, strict: true, type: () => true });

  router.post(
    '/notifications',
    (request, response, next) => {
      if (!request.is('application/json')) {
        // Answered once counted, as every refusal: a scrape after the answer shows it.
        void countRejected(dependencies, ['']).then(() => response.status(415).json({ error: 'Content-Type must be application/json' }));
        return;
      }
      next();
    },
    parseJson,
    (request, response) => accept(request, response, dependencies),
  );

  router.get('/notifications/:target/:notificationId', async (request, response) => {
    const target = request.params.target;
    const notificationId = request.params.notificationId;
    const record = await dependencies.store.getNotification(target, notificationId);
    if (!record) {
      response.status(404).json({ error: 'no such notification is tracked or recently finished' });
      return;
    }
    response.json(record);
  });

  router.get('/notifications', (request, response) => list(request, response, dependencies));

  router.all('/notifications', (_request, response) => {
    response.set('Allow', 'GET, POST').status(405).json({ error: 'method not allowed' });
  });
  // Bodies the JSON parser refused (malformed, too large) are rejected items too, of no known
  // target; the app's error handler then answers.
  router.use((error: unknown, request: Request, _response: Response, next: NextFunction) => {
    if (request.method !== 'POST') {
      next(error);
      return;
    }
    void countRejected(dependencies, ['']).then(() => next(error));
  });
  return router;
}

async function accept(request: Request, response: Response, dependencies: IntakeDependencies): Promise<void> {
  const validation = validateIntake(request.body, dependencies.targets);
  if (!validation.ok) {
    await countRejected(dependencies, validation.rejectedTargets);
    response.status(400).json({ error: validation.error, items: validation.items });
    return;
  }
  const before = dependencies.storageProblem();
  if (before !== undefined) {
    response.status(503).json({ error: storageProblemError(before) });
    return;
  }
  const now = dependencies.now();
  let result;
  try {
    // 202 is sent only after this transaction has committed: an acknowledged ID survives any crash.
    result = await dependencies.store.acceptNotifications(validation.items, now, now + dependencies.firstPollDelayMilliseconds);
  } catch (error) {
    dependencies.logger.error({ error: String(error), items: validation.items.length }, 'cannot store notifications');
    response.status(503).json({ error: 'the notifications could not be stored; nothing was stored, try again' });
    return;
  }
  // Committed, but to the file that is still at the configured path? Only then is it durable.
  const after = dependencies.storageProblem();
  if (after?.lasting) {
    response.status(503).json({ error: storageProblemError(after) });
    return;
  }
  dependencies.track(result.accepted);
  response.status(202).json({ accepted: result.accepted.length, duplicates: result.duplicates });
}

const storageLostError =
  'the state file was deleted or replaced while the exporter was running: nothing can be stored durably until it is restarted; send these again later';
const storageUnavailableError = 'the state storage cannot be reached just now: nothing was stored; send these again shortly';

function storageProblemError(problem: StorageProblem): string {
  return problem.lasting ? storageLostError : storageUnavailableError;
}

const listParameters = new Set(['target', 'state', 'limit', 'cursor']);
const listableStates = new Set(['Pending', 'Enqueued', 'Processing', 'Scheduled', 'Unknown', 'Completed', 'Abandoned', 'NoTargetFound', 'Canceled']);

/** GET /notifications?target=&state=&limit=&cursor=: recent messages, newest first, a page at a time. */
async function list(request: Request, response: Response, dependencies: IntakeDependencies): Promise<void> {
  const query = request.query as Record<string, unknown>;
  const single = (name: string): string | undefined => (typeof query[name] === 'string' ? query[name] : undefined);
  const target = single('target');
  const state = single('state');
  const limitText = single('limit') ?? '50';
  if (Object.values(query).some((value) => typeof value !== 'string')) {
    response.status(400).json({ error: 'each query parameter may be given once' });
    return;
  }
  // A misspelt parameter (sate=, state[]=) must not silently list everything.
  const unknown = Object.keys(query).find((name) => !listParameters.has(name));
  if (unknown !== undefined) {
    response.status(400).json({ error: `unknown query parameter ${JSON.stringify(unknown.slice(0, 64))} (known: ${[...listParameters].join(', ')})` });
    return;
  }
  if (target !== undefined && !dependencies.targets.some((candidate) => candidate.name === target)) {
    response.status(400).json({ error: 'target is not a configured Azure Notification Hubs target' });
    return;
  }
  if (state !== undefined && !listableStates.has(state)) {
    response.status(400).json({ error: `state must be one of ${[...listableStates].join(', ')}` });
    return;
  }
  if (!/^\d{1,3}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > 500) {
    response.status(400).json({ error: 'limit must be a whole number from 1 to 500' });
    return;
  }
  const after = decodeCursor(single('cursor'));
  if (after === null) {
    response.status(400).json({ error: 'cursor is not one this API gave out' });
    return;
  }
  const limit = Number(limitText);
  const items = await dependencies.store.listNotifications({ target, state, limit, after });
  const last = items.at(-1);
  const nextCursor =
    items.length === limit && last
      ? Buffer.from(JSON.stringify([Date.parse(last.acceptedAt), last.target, last.notificationId])).toString('base64url')
      : null;
  response.json({ items, nextCursor });
}

/** undefined = no cursor; null = a cursor that does not decode. */
function decodeCursor(text: string | undefined): { acceptedAt: number; target: string; notificationId: string } | undefined | null {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 3 && Number.isSafeInteger(value[0]) && typeof value[1] === 'string' && typeof value[2] === 'string') {
      return { acceptedAt: value[0] as number, target: value[1], notificationId: value[2] };
    }
  } catch {
    // falls through
  }
  return null;
}

/**
 * Counts refused items, one entry per item with the target it named ('' when unknown). Counting a
 * rejection must never turn a 4xx into a 500 (a failing disk is logged, not thrown).
 */
async function countRejected(dependencies: IntakeDependencies, targets: readonly string[]): Promise<void> {
  try {
    await dependencies.store.countRejectedIntake(targets);
  } catch (error) {
    dependencies.logger.error({ error: String(error) }, 'cannot count rejected intake items');
  }
}
