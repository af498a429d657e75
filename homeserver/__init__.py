"""The homeserver core: config, storage, accounts, rooms, DMs and the services around them."""
