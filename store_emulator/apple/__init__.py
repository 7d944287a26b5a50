"""The Apple half of the store emulator: an Apple-shaped CA, App Store signing, the store's
state and life-cycle verbs, and the App Store Server API over HTTP (see `emulator`)."""
