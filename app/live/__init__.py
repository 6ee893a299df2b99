"""The live layer: moves rendered frames from the ticker to sockets. No domain logic here."""
