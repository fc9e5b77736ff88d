import { describe, expect, it } from 'vitest';
import { ApiError, unwrap } from './error';

const response = (status: number, statusText = '') => new Response(null, { status, statusText });

describe('ApiError', () => {
  it('keeps the WSO2 error body: code, message, description', () => {
    const e = ApiError.from(response(409), { code: 409, message: 'Conflict', description: 'an API named PizzaShackAPI 1.0.0 exists' });
    expect([e.status, e.code, e.message, e.description]).toEqual([409, 409, 'Conflict', 'an API named PizzaShackAPI 1.0.0 exists']);
  });

  it('reads an OAuth2 error and bodies that are not WSO2 shaped', () => {
    expect(ApiError.from(response(400), { error: 'invalid_grant', error_description: 'code expired' }).message).toBe('code expired');
    const bare = ApiError.from(response(502, 'Bad Gateway'), 'upstream');
    expect([bare.code, bare.message]).toEqual([502, 'Bad Gateway']);
  });

  it('unwrap gives the data of a success and throws the refusal', () => {
    expect(unwrap({ data: { count: 1 }, response: response(200) })).toEqual({ count: 1 });
    expect(() => unwrap({ error: { code: 403, message: 'Forbidden' }, response: response(403) })).toThrowError(ApiError);
  });
});
