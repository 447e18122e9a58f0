from colorbench.cli.app import main

raise SystemExit(main())
