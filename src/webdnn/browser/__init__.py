"""Static server with COOP/COEP headers and the headless-Chromium driver."""
