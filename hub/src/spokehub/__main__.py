from spokehub.cli import main

main()
