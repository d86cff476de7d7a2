<?php
// Made the title oracle in tests/data/titles-oracle-<version>.tsv: how MediaWiki itself
// normalises every Unicode code point (surrogates aside) at the start of a title and
// inside one, with the wiki's default settings ($wgCapitalLinks, no
// $wgOverrideUcfirstCharacters) on PHP 8.
//
//   mw-peer.sh start DIR PORT          (MW_VERSION=1.43 for 1.43)
//   mw-peer.sh maint DIR "$PWD/tests/data/titles-oracle.php" > tests/data/titles-oracle-VERSION.tsv
//
// One line per code point whose results are not the plain ones ("Xx" with X the code
// point upper-cased by nothing, and "AXb"): code point (hex), then each result as
// "NS:dbkey" in hex-escaped UTF-8, or "!" for an invalid title.
require_once getenv( 'MW_INSTALL_PATH' ) . '/maintenance/Maintenance.php';

class TitlesOracle extends Maintenance {
	public function execute() {
		$factory = MediaWiki\MediaWikiServices::getInstance()->getTitleFactory();
		echo "# MediaWiki " . MW_VERSION . ", PHP " . PHP_VERSION . "\n";
		echo "# codepoint\tfirst\tinside\n";
		for ( $cp = 0; $cp <= 0x10FFFF; $cp++ ) {
			if ( $cp >= 0xD800 && $cp <= 0xDFFF ) {
				continue;
			}
			$c = mb_chr( $cp, 'UTF-8' );
			$first = $this->normalised( $factory, $c . 'x' );
			$inside = $this->normalised( $factory, 'A' . $c . 'b' );
			if ( $first !== '0:' . $c . 'x' || $inside !== '0:A' . $c . 'b' ) {
				printf( "%X\t%s\t%s\n", $cp, bin2hex( $first ), bin2hex( $inside ) );
			}
		}
	}

	private function normalised( $factory, string $text ): string {
		$title = $factory->newFromText( $text );
		return $title ? $title->getNamespace() . ':' . $title->getDBkey() : '!';
	}
}

$maintClass = TitlesOracle::class;
require_once RUN_MAINTENANCE_IF_MAIN;
