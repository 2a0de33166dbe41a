class Train:
    EPOCHS = 20
    BATCH: int = 64
