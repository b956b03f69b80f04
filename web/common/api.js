// The page's configuration and a small fetch wrapper for the Chairside API.
//
// Every API error arrives as {"error": {"code", "message"}}; network failures, timeouts and
// non-JSON answers are turned into the same ApiError shape so pages handle one kind of failure.

const DEFAULT_TIMEOUT_MS = 20000;

/** window.CHAIRSIDE_CONFIG (from /config.js) merged with ?practice=<id>, which takes precedence. */
export function loadConfig() {
  const raw = window.CHAIRSIDE_CONFIG && typeof window.CHAIRSIDE_CONFIG === "object" ? window.CHAIRSIDE_CONFIG : {};
  const params = new URLSearchParams(window.location.search);
  const fromUrl = (params.get("practice") || "").trim();
  return {
    apiBase: String(raw.apiBase || window.location.origin).replace(/\/+$/, ""),
    practiceId: fromUrl || String(raw.practiceId || "").trim(),
    local: raw.local === true,
    lang: (params.get("lang") || "").trim().toLowerCase(),
  };
}

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the request never got an answer
   * @param {string} code the API's stable code, or network / timeout / http_<status>
   * @param {string} message the API's message (English, developer-facing)
   */
  constructor(status, code, message) {
    super(message || code);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/**
 * @param {string} apiBase
 * @param {{token?: () => string | null, onUnauthorized?: (err: ApiError) => void}} hooks
 */
export function createApi(apiBase, hooks = {}) {
  /**
   * @param {string} method
   * @param {string} path starting with "/"
   * @param {{body?: unknown, auth?: boolean, timeoutMs?: number, text?: boolean, blob?: boolean, accept?: string}} options
   *   auth: send the bearer token, and treat a 401 as "the session is over".
   *   text: answer the body as text (a calendar file, say) instead of parsing JSON.
   *   blob: answer the body as a Blob (a download); accept: the Accept header to send (a binary answer
   *   such as application/zip needs its own type there, or the API refuses to send it).
   */
  async function request(method, path, options = {}) {
    const { body, auth = false, timeoutMs = DEFAULT_TIMEOUT_MS, text: asText = false, blob: asBlob = false, accept = "" } = options;
    const headers = { Accept: accept || (asText || asBlob ? "*/*" : "application/json") };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth) {
      const token = hooks.token ? hooks.token() : null;
      if (token) headers.Authorization = `Bearer ${token}`;
    }
    const controller = new AbortController();
    const timer = window.setTimeout(() => controller.abort(), timeoutMs);
    let response;
    try {
      response = await fetch(apiBase + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
        credentials: "omit",
        cache: "no-store",
      });
    } catch (err) {
      const timedOut = err && err.name === "AbortError";
      throw new ApiError(0, timedOut ? "timeout" : "network", timedOut ? "request timed out" : "network error");
    } finally {
      window.clearTimeout(timer);
    }
    let data = null;
    if (response.status !== 204) {
      if (asBlob && response.ok) return response.blob();
      const text = await response.text();
      if (asText && response.ok) return text;
      if (text) {
        try {
          data = JSON.parse(text);
        } catch {
          data = null;
        }
      }
    }
    if (!response.ok) {
      const error = data && typeof data === "object" && data.error && typeof data.error === "object" ? data.error : {};
      const err = new ApiError(
        response.status,
        String(error.code || `http_${response.status}`),
        String(error.message || response.statusText || ""),
      );
      err.details = error; // the rest of the API's error object (e.g. the office phone with a "call us" code)
      if (auth && response.status === 401 && hooks.onUnauthorized) hooks.onUnauthorized(err);
      throw err;
    }
    return data;
  }

  return {
    get: (path, options) => request("GET", path, options),
    post: (path, body, options) => request("POST", path, { ...options, body: body === undefined ? {} : body }),
    put: (path, body, options) => request("PUT", path, { ...options, body: body === undefined ? {} : body }),
    del: (path, options) => request("DELETE", path, options),
  };
}

/**
 * A friendly sentence for an API error, from the page's strings:
 * errors[code], then errors["status_<status>"], then the API's own message (English only), then errors.generic.
 */
export function friendlyError(err, t, lang) {
  const code = err && err.code ? String(err.code) : "";
  const status = err && typeof err.status === "number" ? err.status : -1;
  const byCode = t.has(`errors.${code}`) ? t(`errors.${code}`) : "";
  if (byCode) return byCode;
  if (t.has(`errors.status_${status}`)) return t(`errors.status_${status}`);
  if (lang === "en" && (status === 400 || status === 422) && err.message) {
    const msg = String(err.message);
    return msg.charAt(0).toUpperCase() + msg.slice(1) + (/[.!?]$/.test(msg) ? "" : ".");
  }
  return t("errors.generic");
}

/** sessionStorage holding JSON, tolerant of private modes that refuse storage. */
export const store = {
  read(key) {
    try {
      const raw = window.sessionStorage.getItem(key);
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  },
  write(key, value) {
    try {
      window.sessionStorage.setItem(key, JSON.stringify(value));
    } catch {
      // Storage refused (private mode, quota): the session lasts as long as the page.
    }
  },
  remove(key) {
    try {
      window.sessionStorage.removeItem(key);
    } catch {
      // nothing stored
    }
  },
};
