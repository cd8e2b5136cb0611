"""``python -m latentid``: the ``latentid`` command line, for an environment whose scripts folder is not on PATH."""

from latentid._console import main

if __name__ == "__main__":
    main()
