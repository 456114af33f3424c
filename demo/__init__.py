"""The offline demo: sample sources on local emulators, the three jobs, then the API."""
