"""The Google Play half of the emulator (DESIGN.md section 8).

- `state.PlayStore`: catalogue, subscription and one-time purchases with their `..N` orders,
  voided purchases, moved through the lifecycle by named operations on a virtual clock
- `lifecycle.PlayLifecycle`: what Google does as time passes and what customers do, with
  the RTDN each change publishes
- `keys`: service-account key files and the push-token signer (published as a JWKS)
- `play.GooglePlay`: the store plus keys, issued access tokens and injected faults
- `app`: FastAPI router with the OAuth token endpoint, the JWKS and the Developer API paths
- `push.PushPublisher`: RTDN payloads, Pub/Sub push envelopes and their OIDC tokens
- `faults`: 429/5xx/slow answers for client tests
"""
