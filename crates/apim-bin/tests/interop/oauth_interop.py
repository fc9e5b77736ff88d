"""Third-party interoperability check: Authlib (a PyPI OAuth2 client and JOSE library) drives every grant
against a running apim, and validates the JWTs it gets from /oauth2/jwks alone.

Usage: python oauth_interop.py BASE_URL ADMIN_USER ADMIN_PASSWORD
TLS is verified: point REQUESTS_CA_BUNDLE at the server's certificate.
Exits non-zero on the first failure; prints one line per check.
"""

import html.parser
import sys
import urllib.parse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
from authlib.jose import JsonWebKey, JsonWebToken  # noqa: E402


base, admin, admin_pw = sys.argv[1], sys.argv[2], sys.argv[3]
token_url = f"{base}/oauth2/token"


def check(name, cond, detail=""):
    if not cond:
        print(f"FAIL {name} {detail}")
        sys.exit(1)
    print(f"ok   {name}")


# Discovery tells the client where everything is.
meta = requests.get(f"{base}/oauth2/token/.well-known/openid-configuration").json()
check("discovery", "token_endpoint" in meta and "S256" in meta["code_challenge_methods_supported"])

reg = requests.post(
    f"{base}/client-registration/v0.17/register",
    auth=(admin, admin_pw),
    json={
        "clientName": "authlib",
        "owner": admin,
        "grantType": "client_credentials password refresh_token authorization_code",
        "callbackUrl": "https://client.example/cb",
        "saasApp": True,
    },
)
check("registration", reg.status_code == 200, reg.text)
client_id, client_secret = reg.json()["clientId"], reg.json()["clientSecret"]

jwks = requests.get(f"{base}/oauth2/jwks").json()
keys = JsonWebKey.import_key_set(jwks)
jwt = JsonWebToken(["RS256"])


def verify_jwt(name, token):
    claims = jwt.decode(token, keys)
    claims.validate()
    check(f"{name}: JWT verified from the JWKS", claims["client_id"] == client_id and claims["aud"] == client_id)


s = OAuth2Session(client_id, client_secret, token_endpoint_auth_method="client_secret_basic")

t = s.fetch_token(token_url, grant_type="client_credentials")
check("client_credentials", t["token_type"] == "Bearer" and t["expires_in"] == 3600)
verify_jwt("client_credentials", t["access_token"])

t = s.fetch_token(token_url, grant_type="password", username=admin, password=admin_pw, scope="openid apim:api_view")
check("password", "refresh_token" in t and "apim:api_view" in t["scope"].split())
verify_jwt("password", t["access_token"])

r = s.refresh_token(token_url, refresh_token=t["refresh_token"])
check("refresh_token rotates", r["refresh_token"] != t["refresh_token"])

info = s.introspect_token(f"{base}/oauth2/introspect", token=r["access_token"]).json()
check("introspection active", info["active"] is True and info["username"] == admin)
s.revoke_token(f"{base}/oauth2/revoke", token=r["access_token"])
info = s.introspect_token(f"{base}/oauth2/introspect", token=r["access_token"]).json()
check("revoked token inactive", info["active"] is False)


class Inputs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")


# Authorization code with PKCE: Authlib builds the request, a "browser" signs in on the login page.
code_session = OAuth2Session(client_id, client_secret, redirect_uri="https://client.example/cb", scope="openid", code_challenge_method="S256")
verifier = generate_token(64)
url, state = code_session.create_authorization_url(f"{base}/oauth2/authorize", code_verifier=verifier)
page = requests.get(url)
check("login page", page.status_code == 200 and "password" in page.text)
form = Inputs()
form.feed(page.text)
form.fields.update({"username": admin, "password": admin_pw})
resp = requests.post(f"{base}/oauth2/authorize", data=form.fields, allow_redirects=False)
location = resp.headers.get("location", "")
check("redirect with code", resp.status_code == 302 and location.startswith("https://client.example/cb?"), f"{resp.status_code} {location}")
query = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)
check("state returned", query.get("state") == [state])
t = code_session.fetch_token(token_url, authorization_response=location, code_verifier=verifier)
check("authorization_code + PKCE", "access_token" in t)
verify_jwt("authorization_code", t["access_token"])
ui = requests.get(f"{base}/oauth2/userinfo", headers={"Authorization": f"Bearer {t['access_token']}"})
check("userinfo", ui.status_code == 200 and ui.json()["sub"] == admin)

print("interop: all checks passed")
