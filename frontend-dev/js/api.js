// The API client: same-origin fetches with the session cookies (httpOnly: scripts never
// see a token), one refresh of the session on 401, JSON errors turned into exceptions
// that carry the server's `code` and `message`.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let refreshing = null;

// The session marker cookie (the only one scripts can read) holds when the access token
// expires, in seconds since the epoch; absent when signed out.
export function accessExpiry() {
  const match = document.cookie.match(/(?:^|;\s*)sb_session=(\d+)/);
  return match ? Number(match[1]) : null;
}

export const hasSession = () => accessExpiry() !== null;

// Trades the refresh cookie for new session cookies: "ok"; "refused" when the session is
// over (signed out, expired, revoked); "unavailable" when the server could not say.
export function refreshSession() {
  refreshing ??= fetch("/api/v1/auth/refresh", { method: "POST", credentials: "same-origin" })
    .then((response) => (response.ok ? "ok" : response.status === 401 ? "refused" : "unavailable"))
    .catch(() => "unavailable")
    .finally(() => { refreshing = null; });
  return refreshing;
}

export async function api(path, { method = "GET", json, body, headers = {}, retry = true } = {}) {
  // Refresh before the server would refuse an expired token.
  const expiry = accessExpiry();
  if (expiry !== null && expiry - 10 < Date.now() / 1000 && !path.startsWith("/api/v1/auth/")) await refreshSession();
  const options = { method, credentials: "same-origin", headers: { ...headers } };
  if (json !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(json);
  } else if (body !== undefined) {
    options.body = body;
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError(0, "network", "The server could not be reached. Check your connection and try again.");
  }
  if (response.status === 401 && retry && !path.startsWith("/api/v1/auth/") && (await refreshSession()) === "ok") {
    return api(path, { method, json, body, headers, retry: false });
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, data?.code || "error", data?.message || `The request failed (${response.status}).`);
  }
  return data;
}

export const get = (path) => api(path);
export const post = (path, json) => api(path, { method: "POST", json });
export const put = (path, json) => api(path, { method: "PUT", json });
export const patch = (path, json) => api(path, { method: "PATCH", json });
export const del = (path) => api(path, { method: "DELETE" });

// A query string from an object, leaving out empty values.
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : "";
}
