"""Start a Gavel node: `python run.py [--port 8888] [--data-dir ./data]`."""
from server.app import main

if __name__ == "__main__":
    main()
