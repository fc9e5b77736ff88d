/** A REST API's refusal, as WSO2's error body states it: `{code, message, description}`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: number;
  readonly description: string;

  constructor(status: number, code: number, message: string, description: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.description = description;
  }

  /** From a response and its parsed body; bodies that are not WSO2's shape keep the HTTP status. */
  static from(response: Response, body: unknown): ApiError {
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const code = typeof b.code === 'number' ? b.code : typeof b.code === 'string' && /^\d+$/.test(b.code) ? Number(b.code) : response.status;
    const message =
      typeof b.message === 'string' && b.message !== ''
        ? b.message
        : typeof b.error_description === 'string'
          ? b.error_description
          : response.statusText || `HTTP ${response.status}`;
    const description = typeof b.description === 'string' ? b.description : '';
    return new ApiError(response.status, code, message, description);
  }
}

/** What an openapi-fetch call resolves to. */
export interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of a successful call, or throws the call's `ApiError` (for TanStack Query). */
export function unwrap<T>(result: FetchResult<T>): T {
  if (result.error !== undefined || !result.response.ok) {
    throw ApiError.from(result.response, result.error);
  }
  return result.data as T;
}
