"""A client of the EnOS API gateway and Connection Service, written from EnOS's public
documentation ("Get Access Token", "Invoking API with Access Token", "Apply Certificate"), with
Python's standard library only. It knows nothing of edgeca: it is what a hub written for EnOS
does, pointed at another base URL."""
import hashlib
import http.client
import json
import ssl
import time
import urllib.parse


def sha256_hex(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest().lower()


class EnosClient:
    def __init__(self, host, port, cafile, app_key, app_secret):
        self.host, self.port = host, port
        self.context = ssl.create_default_context(cafile=cafile)
        self.app_key, self.app_secret = app_key, app_secret
        self.access_token = None
        self._last_timestamp = 0
        self.clock_offset_ms = 0  # for a server whose clock is moved (libfaketime)

    def timestamp(self):
        """Milliseconds since 1970, never the same twice in this client."""
        now = int(time.time() * 1000) + self.clock_offset_ms
        if now <= self._last_timestamp:
            now = self._last_timestamp + 1
        self._last_timestamp = now
        return now

    def _post(self, path, body_text, headers):
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=60)
        try:
            conn.request("POST" if body_text is not None else "GET", path, body=body_text, headers=headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def get_token(self, timestamp=None, encryption=None, app_key=None):
        """POST /apim-token-service/v2.0/token/get with encryption = sha256(appKey+timestamp+appSecret)."""
        timestamp = self.timestamp() if timestamp is None else timestamp
        app_key = app_key or self.app_key
        encryption = encryption or sha256_hex(f"{app_key}{timestamp}{self.app_secret}")
        body = json.dumps({"appKey": app_key, "encryption": encryption, "timestamp": timestamp})
        status, answer = self._post("/apim-token-service/v2.0/token/get", body, {"Content-Type": "application/json"})
        if answer and answer.get("status") == 0:
            self.access_token = answer["data"]["accessToken"]
        return status, answer

    def headers(self, query, body_text, timestamp=None, token=None, signature=None):
        """apim-accesstoken, apim-timestamp and apim-signature =
        sha256(accessToken + paramsData + timestamp + appSecret), where paramsData is the query
        parameters sorted by name (ASCII), each name followed by its value, then the body."""
        token = token or self.access_token
        timestamp = str(self.timestamp() if timestamp is None else timestamp)
        params_data = "".join(f"{k}{v}" for k, v in sorted(query.items())) + (body_text or "")
        signature = signature or sha256_hex(f"{token}{params_data}{timestamp}{self.app_secret}")
        headers = {"apim-accesstoken": token, "apim-timestamp": timestamp, "apim-signature": signature}
        if body_text is not None:
            headers["Content-Type"] = "application/json;charset=UTF-8"
        return headers

    def call(self, path, query, body=None, method=None, **signing):
        body_text = json.dumps(body) if body is not None else None
        if method == "POST" and body_text is None:
            body_text = ""
        headers = signing.pop("headers", None) or self.headers(query, body_text, **signing)
        url = f"{path}?{urllib.parse.urlencode(query)}"
        return self._post(url, body_text, headers)

    # Connection Service, /connect-service/v2.0/certificates
    def certificates(self, action, device, body=None, **signing):
        query = {"action": action, **device}
        return self.call("/connect-service/v2.0/certificates", query, body, method="GET" if action == "list" else "POST",
                         **signing)
