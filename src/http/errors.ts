import type { FastifyReply } from 'fastify';

/** Every error the HTTP API answers has this shape. */
export interface ApiError {
  error: {
    code: string;
    message: string;
    problems?: { field: string; message: string }[];
  };
}

export function sendError(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  problems?: { field: string; message: string }[],
): FastifyReply {
  const body: ApiError = { error: { code, message, ...(problems ? { problems } : {}) } };
  return reply.code(status).type('application/json').send(body);
}
