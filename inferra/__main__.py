from inferra.cli import app

app(prog_name="inferra")
