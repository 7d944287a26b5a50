"""Google Play: Play Developer API, real-time developer notifications, signed purchase data.

- `credentials`: service-account OAuth 2.0 (JWT bearer grant), cached access tokens
- `client`: the Developer API over an injected `requests.Session`, with retries
- `catalog`: base plan and offer durations (monetization API), cached
- `normalize`: Google's JSON -> domain `StoreRecord`s (the only reader of purchase fields)
- `gateway`: fetch + normalize + acknowledge (PlayGateway)
- `adapter`: the engine's `GoogleGateway` (push authentication, notification reader,
  purchase verification) built on the above
- `notification`, `push`, `oidc`: Pub/Sub push requests, authenticated and decoded
- `signature`: the app's signed purchase data (SHA1withRSA)
- `inspect`: `iap-engine inspect google`
- `factory`: building the above from `[google]` settings
- `errors`: the exception tree (subclasses of the engine's service errors)
"""
