"""The top floor: operating OrderFlow. The `orderflow` command (cli.py), the processes it
supervises (services.py), deploy-time set-up and the demo catalogue (admin.py, demo.py), the
load generator and the benchmark (load.py, bench/, faust_floor.py). Nothing imports it."""
