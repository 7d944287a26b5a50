"""The Apple half of the store emulator: an Apple-shaped CA, App Store signing, the store's
state and life-cycle verbs, the App Store Server API over HTTP (see `emulator`), and what
the App Store does as time passes and customers act (`lifecycle`)."""
