"""What an export leaves behind and how it is judged: the format table (:mod:`.formats`), verification against
eager PyTorch (:mod:`.verify`) and JUnit reports (:mod:`.junit`)."""
