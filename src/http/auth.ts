import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendError } from './errors.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Bearer-token check for intake, status and admin routes. Tokens are compared as digests
 * in constant time. With auth turned off every request passes.
 */
export function bearerAuth(options: { enabled: boolean; tokens: () => string[] }) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (!options.enabled) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) {
      reply.header('www-authenticate', 'Bearer');
      return sendError(reply, 401, 'unauthorized', 'an Authorization: Bearer <token> header is required');
    }
    const given = digest(match[1]);
    const ok = options.tokens().some((token) => timingSafeEqual(digest(token), given));
    if (!ok) return sendError(reply, 403, 'forbidden', 'the bearer token is not accepted');
  };
}
