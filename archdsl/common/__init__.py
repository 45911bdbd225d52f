"""What every stage uses: source spans and diagnostics, frozen records, resources, framework imports."""
